import { z } from "zod";

/**
 * What the policy says about one request. `rule` is the place in the policy file that decided
 * (`get_file.deny[1]`, `devices.max_devices_per_call`), or a built-in rule (`path_safety`); `reason`
 * is one clear sentence naming the rule and what would change the answer.
 */
export const DecisionSchema = z.strictObject({
  outcome: z.enum(["allow", "deny", "approval"]),
  rule: z.string().min(1),
  reason: z.string().min(1),
});
export type Decision = z.infer<typeof DecisionSchema>;
