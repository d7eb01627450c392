import type { LibraryFile, Machine } from "../defender/schemas.js";
import type { Decision } from "../policy/decision.js";
import { approvalProcess } from "../policy/policySchema.js";
import type { PendingApproval } from "../review/pendingApproval.js";
import { ApprovalError } from "./approvalError.js";
import { approvalPayload, payloadSha256 } from "./approvalPayload.js";
import type { RunRequest, SafetyContext } from "./runClearance.js";

/** Where a console approval stands for the call that follows it. */
export type ConsoleOutcome =
  | { kind: "approved"; approval: PendingApproval }
  | { kind: "awaiting"; approval: PendingApproval }
  /** Already handed to Defender by another call: follow its devices' request ids. */
  | { kind: "submitted"; approval: PendingApproval };

/**
 * Approval mode `console`: puts exactly this request (its payload and SHA-256) in the review console
 * and waits up to `waitMs` for a reviewer. The reviewer's decision is recorded by the console; the
 * request and its expiry are recorded here.
 */
export async function askConsole(
  ctx: SafetyContext,
  request: RunRequest,
  decision: Decision,
  machines: readonly Machine[],
  library: readonly LibraryFile[],
  policySha256: string | null,
  waitMs: number,
): Promise<ConsoleOutcome> {
  const payload = approvalPayload({ ...request, requester: ctx.requester, machines, library });
  const sha256 = payloadSha256(payload);
  const record = { request_id: ctx.callId, who: ctx.requester, why: request.comment, payload_sha256: sha256 };
  if (ctx.review === undefined) {
    await ctx.audit.require({ kind: "approval_refused", ...record, response: "unsupported" });
    throw new ApprovalError(
      "APPROVAL_UNAVAILABLE",
      `this request needs a reviewer's approval in the review console (${decision.rule}), and this server has no review console: over stdio, start the server with --review-port PORT (MDE_REVIEW_PORT); over HTTP it is at /review`,
    );
  }
  await ctx.audit.require({ kind: "approval_requested", ...record });
  const process = approvalProcess(ctx.policy.current());
  const approval = await ctx.review.add(
    {
      call_id: ctx.callId,
      payload,
      payload_sha256: sha256,
      rule: decision.rule,
      reason: decision.reason,
      policy_sha256: policySha256,
      two_person: process.twoPerson,
      devices: request.machineIds.map((id) => {
        const m = machines.find((d) => d.id.toLowerCase() === id.toLowerCase());
        return {
          id: id.toLowerCase(),
          name: m?.computerDnsName ?? null,
          os: m?.osPlatform ?? null,
          health: m?.healthStatus ?? null,
        };
      }),
      run: request,
    },
    process.expiresMinutes,
  );
  ctx.logger.info({ callId: ctx.callId, approvalId: approval.id }, "request awaits review");
  return followConsole(ctx, approval.id, waitMs);
}

/**
 * Waits up to `waitMs` for the reviewer, then takes the approval for its one use, or throws
 * ApprovalError when the request was denied, expired or withdrawn (nothing was sent).
 */
export async function followConsole(ctx: SafetyContext, id: string, waitMs: number): Promise<ConsoleOutcome> {
  const review = ctx.review;
  if (review === undefined)
    throw new ApprovalError("APPROVAL_UNAVAILABLE", "this server has no review console");
  const approval = await review.waitForDecision(id, { waitMs, signal: ctx.signal });
  if (approval === undefined) throw new ApprovalError("APPROVAL_FAILED", `no request ${id} awaits review`);
  const by = approval.decision ? ` by ${approval.decision.reviewer}` : "";
  switch (approval.status) {
    case "pending":
      return { kind: "awaiting", approval };
    case "submitted":
      return { kind: "submitted", approval };
    case "approved": {
      const claimed = await review.claim(id);
      // Another call took it between the read and the claim.
      if (claimed === undefined) return followConsole(ctx, id, 0);
      return { kind: "approved", approval: claimed };
    }
    case "denied":
      throw new ApprovalError(
        "APPROVAL_DECLINED",
        `a reviewer${by} denied this request in the review console; their reason: ${JSON.stringify(approval.decision?.reason ?? "")}`,
      );
    case "withdrawn":
      throw new ApprovalError("APPROVAL_CANCELLED", "this request was withdrawn with cancel_action");
    case "expired":
      await ctx.audit.noteOnce(`expired:${id}`, {
        kind: "approval_refused",
        request_id: approval.call_id,
        who: approval.payload.requester,
        why: approval.payload.comment,
        payload_sha256: approval.payload_sha256,
        response: "expired",
      });
      throw new ApprovalError(
        "APPROVAL_FAILED",
        approval.decision
          ? `the approval${by} expired before the request was run (at ${approval.expires_at})`
          : `no reviewer decided on this request before it expired (at ${approval.expires_at})`,
      );
  }
}
