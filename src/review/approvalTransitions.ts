import { randomBytes } from "node:crypto";
import { scaleMs } from "../config/time.js";
import type { Decide, NewApproval } from "./approvalStore.js";
import { APPROVAL_ID_PREFIX, type PendingApproval, type ReviewDecision } from "./pendingApproval.js";
import { requesterName } from "./pendingApprovals.js";
import { ReviewError } from "./reviewError.js";

/**
 * What each change does to an approval request, apart from where it is kept: a store reads the
 * request, asks here for its next state, and writes that only if nothing changed in between.
 */

/** `minutes` of the policy from `now`, scaled like every server duration, as an ISO time. */
export function minutesFrom(now: number, minutes: number, timeScale: number): string {
  return new Date(now + scaleMs(minutes * 60_000, timeScale)).toISOString();
}

/** A new request, pending from `now` for the policy's `expiresMinutes`. */
export function newApproval(
  request: NewApproval,
  options: { now: number; expiresMinutes: number; timeScale: number },
): PendingApproval {
  return {
    ...request,
    id: `${APPROVAL_ID_PREFIX}${randomBytes(8).toString("hex")}`,
    status: "pending",
    created_at: new Date(options.now).toISOString(),
    expires_at: minutesFrom(options.now, options.expiresMinutes, options.timeScale),
  };
}

/** Sorts requests newest first, as every list of them is shown. */
export function newestFirst(a: PendingApproval, b: PendingApproval): number {
  return b.created_at.localeCompare(a.created_at);
}

/** The request as expired when it is still live (pending, or approved and unused) past its time; else undefined. */
export function expiredIfDue(approval: PendingApproval, now: number): PendingApproval | undefined {
  const live = approval.status === "pending" || approval.status === "approved";
  if (!live || Date.parse(approval.expires_at) > now) return undefined;
  return { ...approval, status: "expired" };
}

/**
 * The request as decided, or the ReviewError saying why this decision cannot be taken. `deciding`:
 * another reviewer's decision on it is being recorded right now.
 */
export function decidedApproval(
  id: string,
  approval: PendingApproval | undefined,
  decide: Decide,
  options: { now: number; expiresMinutes: number; timeScale: number; deciding: boolean },
): PendingApproval {
  if (approval === undefined) throw new ReviewError("NOT_FOUND", `no request ${id} awaits review`);
  if (approval.status === "expired")
    throw new ReviewError("EXPIRED", "this request expired before a decision");
  if (approval.status !== "pending")
    throw new ReviewError("NOT_PENDING", `this request was already ${approval.status}`);
  if (options.deciding)
    throw new ReviewError("NOT_PENDING", "another reviewer's decision on this request is being recorded");
  if (decide.payloadSha256 !== approval.payload_sha256) {
    throw new ReviewError(
      "PAYLOAD_MISMATCH",
      "the decision names another payload than the one pending: reload and review it again",
    );
  }
  if (decide.approve && approval.two_person && decide.reviewer === requesterName(approval)) {
    throw new ReviewError(
      "SAME_PERSON",
      "the two-person rule is on: another reviewer than the requester must approve this request",
    );
  }
  const decision: ReviewDecision = {
    reviewer: decide.reviewer,
    reason: decide.reason,
    at: new Date(options.now).toISOString(),
  };
  return decide.approve
    ? {
        ...approval,
        status: "approved",
        decision,
        expires_at: minutesFrom(options.now, options.expiresMinutes, options.timeScale),
      }
    : { ...approval, status: "denied", decision };
}

/** The request withdrawn by its agent; undefined when it is no longer pending or approved. */
export function withdrawnApproval(approval: PendingApproval | undefined): PendingApproval | undefined {
  if (approval?.status !== "pending" && approval?.status !== "approved") return undefined;
  return { ...approval, status: "withdrawn" };
}

/** The approval taken for its one use; undefined when it is not approved or its time is up. */
export function claimedApproval(
  approval: PendingApproval | undefined,
  now: number,
): PendingApproval | undefined {
  if (approval?.status !== "approved" || Date.parse(approval.expires_at) <= now) return undefined;
  return { ...approval, status: "submitted", submitted: [] };
}
