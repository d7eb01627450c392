import { createHash } from "node:crypto";
import { basename } from "node:path";
import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import { correlationTag } from "../liveResponse/requestIds.js";
import type { Who } from "../audit/auditRecord.js";
import type { CommandResultData, LiveResponseApi, SubmittedRequest } from "../liveResponse/types.js";
import type { ToolContext } from "../tools/toolDefinition.js";
import { describeError } from "../tools/toolErrors.js";
import type { AuditTrail } from "./auditTrail.js";

/**
 * The records of what happened to a request once it was let through: each device's submit (with
 * the correlation tag written into the action's Comment), a request that ended without an action,
 * each action's final status and each command's result. They record facts that already happened,
 * so they are written with `note` (a failure is logged, the answer still goes out). Final statuses
 * and results are recorded once per process, by whichever tool call sees them first: run_live_response,
 * get_action (also as an MCP task follows its actions) or cancel_action; a final status nobody asks
 * about is recorded when the shared poller sees it (`recordFinalStatuses`).
 */
export type AuditContext = Pick<ToolContext, "audit" | "callId" | "requester" | "liveResponse">;

/** How long one round of following a queued request lasts; rounds repeat until it is submitted or ends. */
const QUEUED_ROUND_MS = 60 * 60_000;

export async function auditSubmitted(
  ctx: AuditContext,
  request: SubmittedRequest,
  comment: string,
): Promise<void> {
  if (request.action === undefined) return;
  await ctx.audit.noteOnce(`submitted:${request.requestId}`, {
    kind: "submitted",
    request_id: ctx.callId,
    who: ctx.requester,
    why: comment,
    action_id: request.action.id,
    machine_id: request.machineId.toLowerCase(),
    correlation_tag: correlationTag(request.requestId),
  });
}

/** A device's request that ended with no action: its submit failed, or it was withdrawn while queued. */
export async function auditUnsubmitted(ctx: AuditContext, request: SubmittedRequest): Promise<void> {
  if (request.action !== undefined || request.queued) return;
  await ctx.audit.noteOnce(`final:${request.requestId}`, {
    kind: "final_status",
    request_id: ctx.callId,
    who: ctx.requester,
    action_id: null,
    machine_id: request.machineId.toLowerCase(),
    // The tools show a withdrawn request as Cancelled; the log says what happened to it.
    status: request.withdrawn ? "Withdrawn" : "NotSubmitted",
    ...(request.withdrawn ? {} : { errors: [describeError(request.error, { submit: true }).code] }),
  });
}

/** The action's final status and its commands' results, each once. */
/**
 * Records each of this server's actions final as the service first sees it so, with nobody waiting
 * (the shared poller), under the same key as a tool call's record, so each is recorded once.
 */
export function recordFinalStatuses(audit: AuditTrail, liveResponse: LiveResponseApi, server: Who): void {
  liveResponse.onFinal((action, requestId) => {
    audit.track(
      audit.noteOnce(finalKey(action), {
        kind: "final_status",
        request_id: requestId ?? action.id,
        who: server,
        action_id: action.id,
        machine_id: (action.machineId ?? "unknown").toLowerCase(),
        status: action.status,
      }),
    );
  });
}

const finalKey = (action: MachineAction) => `final:${action.id.toLowerCase()}`;

export async function auditOutcome(
  ctx: AuditContext,
  action: MachineAction,
  results: readonly CommandResultData[] | undefined,
): Promise<void> {
  if (!isFinalActionStatus(action.status)) return;
  await ctx.audit.noteOnce(finalKey(action), {
    kind: "final_status",
    request_id: ctx.callId,
    who: ctx.requester,
    action_id: action.id,
    machine_id: (action.machineId ?? "unknown").toLowerCase(),
    status: action.status,
  });
  for (const result of results ?? []) {
    const artifacts = artifactsOf(result);
    if (artifacts.length === 0) continue;
    await ctx.audit.noteOnce(`result:${action.id.toLowerCase()}:${result.index}`, {
      kind: "result_fetched",
      request_id: ctx.callId,
      who: ctx.requester,
      action_id: action.id,
      command_index: result.index,
      ...("exitCode" in result ? { exit_code: result.exitCode } : {}),
      artifacts,
    });
  }
}

/** What the model was given, by hash: a script's output and errors as served, a collected file as saved. */
function artifactsOf(result: CommandResultData): Array<{ name: string; sha256: string; bytes: number }> {
  if ("output" in result) {
    const texts = [{ name: "output", text: result.output }];
    if (result.errors !== "") texts.push({ name: "errors", text: result.errors });
    return texts.map(({ name, text }) => ({
      name,
      sha256: createHash("sha256").update(text, "utf8").digest("hex"),
      bytes: Buffer.byteLength(text, "utf8"),
    }));
  }
  if ("savedPath" in result) {
    return [{ name: basename(result.savedPath), sha256: result.sha256.toLowerCase(), bytes: result.bytes }];
  }
  return [];
}

/**
 * A request the call left queued is submitted later, in the background: followed here (in memory,
 * no API call while it waits) so its submit, or its end without one, is recorded when it happens.
 */
export function followQueued(ctx: AuditContext, request: SubmittedRequest, comment: string): void {
  if (!ctx.audit.enabled || !request.queued) return;
  ctx.audit.track(
    (async () => {
      for (;;) {
        const entry = await ctx.liveResponse.queuedRequest(request.requestId, { waitMs: QUEUED_ROUND_MS });
        if (entry === undefined) {
          const { action } = await ctx.liveResponse.getAction(request.requestId);
          return auditSubmitted(ctx, { ...request, action }, comment);
        }
        if (!entry.queued) return auditUnsubmitted(ctx, entry);
      }
    })(),
  );
}
