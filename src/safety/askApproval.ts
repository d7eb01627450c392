import type { ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import type { LibraryFile, Machine } from "../defender/schemas.js";
import type { Decision } from "../policy/decision.js";
import { ApprovalError } from "./approvalError.js";
import { APPROVAL_SCHEMA, approvalMessage, approvalPayload, payloadSha256 } from "./approvalPayload.js";
import type { RunRequest, SafetyContext } from "./runClearance.js";

/**
 * Asks the person at the MCP client to approve exactly this request, and returns the SHA-256 of the
 * payload approved. Only an accept whose `approve` is true approves; the question, the answer and a
 * client that cannot be asked are each recorded before this returns or throws ApprovalError. No tool
 * argument can stand in for the answer: it comes from the client's user, not from the model.
 */
export async function askApproval(
  ctx: SafetyContext,
  request: RunRequest,
  decision: Decision,
  machines: readonly Machine[],
  library: readonly LibraryFile[],
): Promise<string> {
  const payload = approvalPayload({ ...request, requester: ctx.requester, machines, library });
  const sha256 = payloadSha256(payload);
  const record = {
    request_id: ctx.callId,
    who: ctx.requester,
    why: request.comment,
    payload_sha256: sha256,
  };
  const refused = async (
    response: "decline" | "cancel" | "unsupported" | "error",
    error: ApprovalError,
  ): Promise<never> => {
    await ctx.audit.require({ kind: "approval_refused", ...record, response });
    throw error;
  };
  if (!ctx.approvals.available) {
    return refused(
      "unsupported",
      new ApprovalError(
        "APPROVAL_UNAVAILABLE",
        `this request needs a person's approval (${decision.rule}), and this MCP client cannot ask one: it did not declare form elicitation`,
      ),
    );
  }
  await ctx.audit.require({ kind: "approval_requested", ...record });
  let answer: ElicitResult;
  try {
    answer = await ctx.approvals.ask({
      mode: "form",
      message: approvalMessage(payload, sha256, decision),
      requestedSchema: APPROVAL_SCHEMA,
    });
  } catch (error) {
    ctx.logger.warn({ callId: ctx.callId, err: String(error) }, "approval question failed");
    return refused(
      "error",
      new ApprovalError(
        "APPROVAL_FAILED",
        "the approval question got no answer (it timed out, the call was cancelled, or the client failed to show it)",
      ),
    );
  }
  const note = typeof answer.content?.note === "string" ? answer.content.note : undefined;
  const approved = answer.action === "accept" && answer.content?.approve === true;
  ctx.logger.info(
    { callId: ctx.callId, action: answer.action, approved, payloadSha256: sha256, note },
    "approval answered",
  );
  if (approved) {
    await ctx.audit.require({ kind: "approval_given", ...record });
    return sha256;
  }
  return answer.action === "cancel"
    ? refused(
        "cancel",
        new ApprovalError(
          "APPROVAL_CANCELLED",
          "the person dismissed the approval question without answering it",
        ),
      )
    : refused("decline", new ApprovalError("APPROVAL_DECLINED", "a person declined this request"));
}
