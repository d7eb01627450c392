import type { Decision } from "./decision.js";
import type { Policy } from "./policySchema.js";

/** What read-only mode needs of a tool: its name for the message, and the registry's own hint. */
export interface ToolDescriptor {
  name: string;
  annotations: { readOnlyHint: boolean };
}

/** Read-only mode is derived from each tool's `readOnlyHint` alone, so no second list can drift. */
export function toolDecision(policy: Policy, tool: ToolDescriptor): Decision {
  if (!policy.read_only || tool.annotations.readOnlyHint) {
    return { outcome: "allow", rule: "read_only", reason: `The policy lets ${tool.name} run.` };
  }
  return {
    outcome: "deny",
    rule: "read_only",
    reason: `${tool.name} acts on devices, and the policy is read-only (read_only: true); only tools that read are available. The operator can change read_only in the policy file.`,
  };
}

export function toolAllowed(policy: Policy, tool: ToolDescriptor): boolean {
  return toolDecision(policy, tool).outcome === "allow";
}
