import type { Decision } from "../policy/decision.js";

/** The policy refused a request before anything was sent to Defender; `decision` names the rule. */
export class PolicyDeniedError extends Error {
  override readonly name = "PolicyDeniedError";
  readonly code = "POLICY_DENIED";

  constructor(readonly decision: Decision) {
    super(`denied by ${decision.rule}: ${decision.reason}`);
  }
}
