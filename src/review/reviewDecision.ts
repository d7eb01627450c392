import { approvalProcess } from "../policy/policySchema.js";
import type { AuditTrail } from "../safety/auditTrail.js";
import type { PolicySource } from "../tools/toolDeps.js";
import type { PendingApproval } from "./pendingApproval.js";
import type { ApprovalStore, Decide } from "./approvalStore.js";

export interface ReviewDeps {
  review: ApprovalStore;
  audit: AuditTrail;
  policy: PolicySource;
}

/**
 * A reviewer approves or denies a request: bound to the payload hash they saw, refused by the
 * two-person rule when they asked for it themselves, and on the audit log (reviewer, reason) before
 * it takes effect. An approval is good for the policy's `expires_minutes`.
 */
export function decideReview(deps: ReviewDeps, id: string, decide: Decide): Promise<PendingApproval> {
  const { expiresMinutes } = approvalProcess(deps.policy.current());
  return deps.review.decide(id, decide, expiresMinutes, (decided) => {
    const record = {
      request_id: decided.call_id,
      who: decided.payload.requester,
      why: decided.payload.comment,
      payload_sha256: decided.payload_sha256,
      reviewer: decide.reviewer,
      reason: decide.reason,
    };
    return deps.audit.require(
      decide.approve
        ? { kind: "approval_given", ...record }
        : { kind: "approval_refused", ...record, response: "decline" },
    );
  });
}
