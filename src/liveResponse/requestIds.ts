import { randomBytes } from "node:crypto";

/**
 * Our id for one device's part of a request, and the tag that carries it in the action's comment:
 * the API stores the comment as `requestorComment`, so the tag tells whether the action it returned
 * is ours or an identical one it merged ours into (reference §9.16), and later lets a submit with an
 * unknown outcome be found instead of sent again.
 */
export function newRequestId(): string {
  return `req_${randomBytes(6).toString("hex")}`;
}

/** Whether `id` is meant as a request id (any `req_` prefix: a malformed one is still ours to refuse). */
export function looksLikeRequestId(id: string): boolean {
  return id.startsWith("req_");
}

export function correlationTag(requestId: string): string {
  return `[mcp:${requestId}]`;
}

export function taggedComment(comment: string, requestId: string): string {
  return `${comment} ${correlationTag(requestId)}`;
}

/** The request id in a comment we tagged, e.g. an action of ours found again after a restart. */
export function requestIdInComment(comment: string | null | undefined): string | undefined {
  return /\[mcp:(req_[0-9a-f]{12})\]/.exec(comment ?? "")?.[1];
}
