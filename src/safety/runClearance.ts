import { auditCommand } from "../audit/auditRecord.js";
import type { LiveResponseCommand } from "../defender/defenderClient.js";
import type { Machine } from "../defender/schemas.js";
import type { Decision } from "../policy/decision.js";
import { evaluateRequest } from "../policy/evaluateRequest.js";
import type { ToolContext } from "../tools/toolDefinition.js";
import { approvalProcess } from "../policy/policySchema.js";
import type { PendingApproval } from "../review/pendingApproval.js";
import { askApproval } from "./askApproval.js";
import { askConsole } from "./consoleApproval.js";
import { ApprovalError } from "./approvalError.js";
import { approvalPayload, payloadSha256 } from "./approvalPayload.js";
import { PolicyDeniedError } from "./policyDeniedError.js";
import {
  deviceById,
  policyNeedsDevices,
  policyNeedsLibrary,
  readDevices,
  readLibrary,
  usesLibrary,
} from "./requestFacts.js";

/** A run_live_response request as it will be submitted. */
export interface RunRequest {
  machineIds: string[];
  commands: LiveResponseCommand[];
  comment: string;
}

/** A request the policy let through, with the approval it got. */
export interface Clearance {
  /** The policy file's SHA-256 when the request was judged (null: no file); a reload judges it again. */
  policySha256: string | null;
  /** SHA-256 of the payload a person approved; undefined when the policy asked for no approval. */
  approvedSha256: string | undefined;
  /** The devices as the policy saw them. */
  machines: Machine[];
  /** Approval mode console: the request still awaits a reviewer, and nothing may be sent yet. */
  awaiting?: PendingApproval | undefined;
}

export type SafetyContext = Pick<
  ToolContext,
  "client" | "signal" | "logger" | "policy" | "audit" | "callId" | "requester" | "approvals" | "review"
>;

/**
 * Judges a request before anything is sent: reads only what the policy's rules need, records the
 * request and the decision, and asks a person when the policy says so. Throws PolicyDeniedError or
 * ApprovalError when the request may not run, and AuditLogError when its records cannot be written
 * (fail closed). Nothing here submits.
 */
export async function clearRunRequest(
  request: RunRequest,
  ctx: SafetyContext,
  /** How long a request in the review console is waited for before it is returned as awaiting. */
  reviewWaitMs = 0,
): Promise<Clearance> {
  const policy = ctx.policy.current();
  const policySha256 = ctx.policy.sha256 ?? null;
  const devicesNeeded = policyNeedsDevices(policy);
  let machines = devicesNeeded
    ? await readDevices(ctx, request.machineIds)
    : request.machineIds.map(deviceById);
  const libraryNeeded = policyNeedsLibrary(policy, request.commands);
  let library = libraryNeeded ? await readLibrary(ctx) : [];
  const decision = evaluateRequest(policy, { ...request, machines, library });
  // The person is shown every device by name and the content of every library file used.
  if (decision.outcome === "approval") {
    if (!devicesNeeded) machines = await readDevices(ctx, request.machineIds);
    if (!libraryNeeded && usesLibrary(request.commands)) library = await readLibrary(ctx);
  }
  await ctx.audit.require({
    kind: "request",
    request_id: ctx.callId,
    who: ctx.requester,
    why: request.comment,
    tool: "run_live_response",
    machines: machines.map((m) => ({ id: m.id.toLowerCase(), name: m.computerDnsName })),
    commands: request.commands.map(auditCommand),
  });
  await recordDecision(ctx, request, decision, policySha256);
  if (decision.outcome === "deny") throw new PolicyDeniedError(decision);
  if (decision.outcome === "allow") return { policySha256, approvedSha256: undefined, machines };
  if (approvalProcess(policy).mode === "console") {
    const outcome = await askConsole(ctx, request, decision, machines, library, policySha256, reviewWaitMs);
    return outcome.kind === "approved"
      ? { policySha256, approvedSha256: outcome.approval.payload_sha256, machines }
      : { policySha256, approvedSha256: undefined, machines, awaiting: outcome.approval };
  }
  const approved = await askApproval(ctx, request, decision, machines, library);
  return { policySha256, approvedSha256: approved, machines };
}

/**
 * Right before the submit: an approval covers the exact payload, so the payload is built again from
 * what is about to be submitted, with the library read again (a file replaced under the same name
 * changes it), and refused when its hash differs. A policy reloaded since the request was judged
 * judges it again.
 */
export async function confirmClearance(
  clearance: Clearance,
  request: RunRequest,
  ctx: SafetyContext,
): Promise<void> {
  const { approvedSha256, machines } = clearance;
  if (approvedSha256 !== undefined) {
    const library = usesLibrary(request.commands) ? await readLibrary(ctx) : [];
    const now = payloadSha256(approvalPayload({ ...request, requester: ctx.requester, machines, library }));
    if (now !== approvedSha256) {
      await ctx.audit.require({
        kind: "approval_refused",
        request_id: ctx.callId,
        who: ctx.requester,
        why: request.comment,
        payload_sha256: approvedSha256,
        response: "payload_changed",
      });
      throw new ApprovalError(
        "APPROVAL_PAYLOAD_CHANGED",
        `what would be submitted is not what the person approved (payload SHA-256 ${now}, approved ${approvedSha256}): a library file changed, or the request did, since the approval`,
      );
    }
  }
  if ((ctx.policy.sha256 ?? null) === clearance.policySha256) return;
  const policy = ctx.policy.current();
  const judged = policyNeedsDevices(policy) ? await readDevices(ctx, request.machineIds) : machines;
  const library = policyNeedsLibrary(policy, request.commands) ? await readLibrary(ctx) : [];
  const decision = evaluateRequest(policy, { ...request, machines: judged, library });
  await recordDecision(ctx, request, decision, ctx.policy.sha256 ?? null);
  if (decision.outcome === "deny") throw new PolicyDeniedError(decision);
  // Judged anew, the request needs an approval it never had: ask now (fails closed where nobody can be asked).
  if (decision.outcome === "approval" && approvedSha256 === undefined) {
    if (approvalProcess(policy).mode === "console") {
      throw new ApprovalError(
        "APPROVAL_FAILED",
        "the policy changed since this request was judged, and it now needs a reviewer's approval: call again to put it in the review console",
      );
    }
    const shown = usesLibrary(request.commands) ? await readLibrary(ctx) : [];
    await askApproval(ctx, request, decision, await readDevices(ctx, request.machineIds), shown);
  }
}

function recordDecision(
  ctx: SafetyContext,
  request: RunRequest,
  decision: Decision,
  policySha256: string | null,
): Promise<void> {
  return ctx.audit.require({
    kind: "policy_decision",
    request_id: ctx.callId,
    who: ctx.requester,
    why: request.comment,
    ...decision,
    policy_sha256: policySha256,
  });
}
