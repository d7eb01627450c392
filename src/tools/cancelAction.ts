import { z } from "zod";
import { InvalidInputError } from "../defender/errors.js";
import { isApprovalId } from "../review/pendingApproval.js";
import {
  ActionEntrySchema,
  actionEntry,
  awaitingApprovalEntries,
  requestEntry,
  type ActionEntry,
} from "./actionEntry.js";
import { actionReferenceOf, withReference } from "./actionReference.js";
import { actionLines } from "./actionSummary.js";
import { CallDeadline } from "./callDeadline.js";
import { actionIdInput, requestIdInput, strictFields } from "./commonInputs.js";
import { resultsOf } from "./followActions.js";
import type { ToolContext, ToolDefinition } from "./toolDefinition.js";
import { describeError } from "./toolErrors.js";
import type { Decision } from "../policy/decision.js";
import { auditOutcome, auditUnsubmitted } from "../safety/auditOutcome.js";

/** Defender requires a comment on every cancel; this one is sent when the caller gives none. */
export const DEFAULT_CANCEL_COMMENT = "Cancelled by mde-live-response-mcp at an agent's request";

/**
 * Cancelling only stops an action or withdraws a request never sent, so the policy has no rule
 * against it: it is allowed whenever the tool is (read-only mode hides it, as it hides every tool
 * that acts on devices). It is recorded like any request, before anything is sent.
 */
const CANCEL_DECISION: Decision = {
  outcome: "allow",
  rule: "cancel_action",
  reason:
    "Cancelling only stops an action or withdraws a queued request, so the policy allows it whenever it is not read-only.",
};

const inputSchema = strictFields(
  {
    action_id: actionIdInput
      .optional()
      .describe(
        'The action to cancel: the action_id Defender gave (a GUID), or the request_id ("req_…") run_live_response returned. Give action_id or request_id, not both.',
      ),
    request_id: requestIdInput.optional(),
    comment: z
      .string({ error: "comment is a short text saying why the action is cancelled" })
      .trim()
      .min(1, "comment is blank: say why the action is cancelled, or leave comment out")
      .optional()
      .describe(
        `Why the action is cancelled; recorded on the action in Defender. Default: "${DEFAULT_CANCEL_COMMENT}".`,
      ),
  },
  "cancel_action",
);

const outputSchema = z.object({ action: ActionEntrySchema });

/** A request still awaiting review (or approved, unused) is withdrawn: nothing is ever sent. */
async function withdrawReview(id: string, ctx: ToolContext): Promise<ActionEntry | undefined> {
  const withdrawn = await ctx.review?.withdraw(id);
  if (withdrawn === undefined) return undefined;
  await ctx.audit.require({
    kind: "approval_refused",
    request_id: withdrawn.call_id,
    who: withdrawn.payload.requester,
    why: withdrawn.payload.comment,
    payload_sha256: withdrawn.payload_sha256,
    response: "withdrawn",
  });
  const [first] = awaitingApprovalEntries(withdrawn, ctx.limits.defaultWaitSeconds);
  if (first === undefined) return undefined;
  return {
    ...first,
    status: "Cancelled",
    status_detail: `Withdrawn while it awaited review: nothing was sent to ${withdrawn.devices.length} device(s).`,
    next_step: null,
  };
}

export const cancelActionTool: ToolDefinition<typeof inputSchema, typeof outputSchema> = {
  name: "cancel_action",
  title: "Cancel a live response action",
  description: [
    "Cancels a live response action that is still Pending or InProgress, by action_id or request_id (give one of the two), optionally with a comment saying why.",
    "When to use: to free a device that is busy with an action you no longer need (Defender runs one live response action per device at a time), or to release the session an action queued for an offline device is holding. This is the only way to stop an action: cancelling an MCP request to run_live_response or get_action does not. Work already done on the device is not undone, and a command that is running may still finish. A request run_live_response returned Queued or AwaitingApproval is withdrawn by its request_id and never submitted (status Cancelled, action_id null). Cancelling an action that is already final changes nothing and is not an error: the action comes back as it is, and status_detail says so.",
    "Costs: one call from Defender's budget of 100 a minute and 1,500 an hour (one more read when the action was already final); frees one of the tenant's 25 live response sessions.",
    "Returns action: the entry with its new status (Cancelled), status_detail and the results of commands that completed before the cancel.",
  ].join("\n\n"),
  inputSchema,
  outputSchema,
  annotations: {
    readOnlyHint: false,
    // It ends an investigation step for good; a cancelled action cannot be resumed.
    destructiveHint: true,
    // Cancelling the same action again changes nothing more: the action comes back as it is.
    idempotentHint: true,
    openWorldHint: true,
  },
  async handler(input, ctx) {
    // A cancel takes no wait_seconds; fetching the results of commands done before it keeps to the default.
    const deadline = new CallDeadline(ctx.limits.defaultWaitSeconds);
    const ref = actionReferenceOf(input);
    const comment = input.comment ?? DEFAULT_CANCEL_COMMENT;
    const record = { request_id: ctx.callId, who: ctx.requester, why: comment };
    // On disk before anything is sent: a cancel the log cannot record is not made (fail closed).
    await ctx.audit.require({
      kind: "request",
      ...record,
      tool: "cancel_action",
      machines: [],
      commands: [],
    });
    await ctx.audit.require({
      kind: "policy_decision",
      ...record,
      ...CANCEL_DECISION,
      policy_sha256: ctx.policy.sha256 ?? null,
    });
    if (isApprovalId(ref.id)) {
      const entries = await withdrawReview(ref.id, ctx);
      if (entries) {
        return {
          structured: { action: entries },
          summary: ["cancel_action:", ...actionLines([entries])].join("\n"),
        };
      }
      const approval = await ctx.review?.get(ref.id);
      const first = approval?.submitted?.[0];
      if (first === undefined) {
        throw new InvalidInputError(
          "request_id",
          `request ${ref.id} cannot be withdrawn: it is ${approval?.status ?? "unknown to this server"}`,
        );
      }
      ref.id = first.request_id;
    }
    // A request still queued is withdrawn, never submitted; one whose submit failed comes back as it is.
    const withdrawn = await ctx.liveResponse.withdraw(ref.id);
    if (withdrawn) {
      await auditUnsubmitted(ctx, withdrawn);
      const entry = requestEntry(
        withdrawn,
        describeError(withdrawn.error, { submit: true }),
        ctx.limits.defaultWaitSeconds,
      );
      return {
        structured: { action: entry },
        summary: ["cancel_action:", ...actionLines([entry])].join("\n"),
      };
    }
    const { requestId, action, alreadyFinal } = await withReference(ref, (id) =>
      ctx.liveResponse.cancel(id, comment, { signal: ctx.signal }),
    );
    await ctx.audit.note({ kind: "cancel", ...record, action_id: action.id, status: action.status });
    const results = await resultsOf(ctx, action, deadline);
    await auditOutcome(ctx, action, results);
    const entry = actionEntry(
      { requestId, action, alreadyFinal: alreadyFinal ?? false },
      results,
      { commandIndex: undefined, outputOffset: 0, maxOutputChars: ctx.limits.maxOutputChars },
      ctx.limits.defaultWaitSeconds,
    );
    return {
      structured: { action: entry },
      summary: ["cancel_action:", ...actionLines([entry])].join("\n"),
    };
  },
};
