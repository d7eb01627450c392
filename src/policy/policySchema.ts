import { z } from "zod";
import { COMMAND_TYPES } from "../defender/schemas.js";
import { compileNamePattern } from "./namePattern.js";
import { compilePathPattern } from "./pathPattern.js";

/**
 * The policy file: what the server may do on endpoints, decided by the operator. Every object is
 * strict, since an unknown key is a misspelt rule that would otherwise silently allow. A section that
 * is absent does not restrict; a section that is present allows only what it lists. Patterns are
 * compiled here, once, so a bad one is a load error and never a surprise at request time.
 */

const text = (what: string) => z.string({ error: `expected ${what} as text` }).min(1, `expected ${what}`);

const sha256 = z
  .string({ error: "expected 64 hex characters (the library file's sha256)" })
  .regex(/^[0-9a-fA-F]{64}$/, "expected 64 hex characters (the library file's sha256)")
  .transform((hash) => hash.toLowerCase());

/** Anchored: the whole argument string must match, so `-Days [0-9]+` cannot be extended with more. */
const argsPattern = z.string({ error: "expected a regular expression as text" }).transform((source, ctx) => {
  try {
    return new RegExp(`^(?:${source})$`, "u");
  } catch (err) {
    ctx.issues.push({
      code: "custom",
      input: source,
      message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
    });
    return z.NEVER;
  }
});

const pathPattern = z.string({ error: "expected a path pattern as text" }).transform((source, ctx) => {
  const compiled = compilePathPattern(source);
  if (compiled.ok) return compiled.pattern;
  ctx.issues.push({ code: "custom", input: source, message: compiled.problem });
  return z.NEVER;
});

const namePattern = text("a device name pattern").transform(compileNamePattern);

const deviceId = z
  .string({ error: "expected a device id (40 hex characters)" })
  .regex(/^[0-9a-fA-F]{40}$/, "expected a device id (40 hex characters)")
  .transform((id) => id.toLowerCase());

/**
 * The same library file listed twice is a mistake (whose pin or pattern would count?). Checked even
 * when an entry has other mistakes, so that every problem is reported at once.
 */
function uniqueNames(rules: readonly unknown[], ctx: z.RefinementCtx): void {
  const first = new Map<string, number>();
  for (const [i, rule] of rules.entries()) {
    const name = (rule as { name?: unknown } | null)?.name;
    if (typeof name !== "string") continue;
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, i);
    else
      ctx.addIssue({
        code: "custom",
        path: [i, "name"],
        message: `${name} is already listed at [${earlier}]`,
      });
  }
}
const evenWithOtherProblems = { when: (payload: { value: unknown }) => Array.isArray(payload.value) };

export const ScriptRuleSchema = z.strictObject({
  /** The library file name, exactly (the library matches names exactly, extension included). */
  name: text("the library script's file name"),
  /** Only this content may run: a script replaced in the library under the same name is refused. */
  sha256: sha256.optional(),
  /** When set, the script's `args` must match it as a whole; absent arguments match as "". */
  args_pattern: argsPattern.optional(),
});
export type ScriptRule = z.infer<typeof ScriptRuleSchema>;

export const LibraryFileRuleSchema = z.strictObject({
  name: text("the library file name"),
  sha256: sha256.optional(),
});
export type LibraryFileRule = z.infer<typeof LibraryFileRuleSchema>;

export const GetFileRulesSchema = z.strictObject({
  /** Required: a GetFile section with no allow list would be a silent "collect nothing". */
  allow: z.array(pathPattern, { error: "expected a list of path patterns (use [] to allow none)" }),
  /** Wins over allow. */
  deny: z.array(pathPattern, { error: "expected a list of path patterns" }).default([]),
});
export type GetFileRules = z.infer<typeof GetFileRulesSchema>;

export const DeviceRulesSchema = z.strictObject({
  ids: z.array(deviceId).optional(),
  name_patterns: z.array(namePattern).optional(),
  tags: z.array(text("a device tag")).optional(),
  /** Device group names or ids (`rbacGroupName`, `rbacGroupId`). */
  groups: z
    .array(
      z
        .union([z.string().min(1), z.number().int()], { error: "expected a device group name or id" })
        .transform(String),
    )
    .optional(),
  max_devices_per_call: z
    .number({ error: "expected a whole number from 1 to 100" })
    .int("expected a whole number from 1 to 100")
    .min(1, "expected a whole number from 1 to 100")
    .max(100, "expected a whole number from 1 to 100")
    .optional(),
});
export type DeviceRules = z.infer<typeof DeviceRulesSchema>;

export const ApprovalRulesSchema = z.strictObject({
  command_types: z.array(z.enum(COMMAND_TYPES)).optional(),
  scripts: z.array(text("a library script name")).optional(),
  device_tags: z.array(text("a device tag")).optional(),
  batch_size_at_least: z
    .number({ error: "expected a whole number of devices, at least 1" })
    .int("expected a whole number of devices, at least 1")
    .min(1, "expected a whole number of devices, at least 1")
    .optional(),
  /**
   * Who is asked: `elicitation` asks the person at the MCP client; `console` puts the request in the
   * review console, where a reviewer elsewhere decides (headless agents have nobody at the client).
   */
  mode: z.enum(["elicitation", "console"], { error: "expected elicitation or console" }).optional(),
  /** Console mode: minutes a request waits for a decision, and an approval waits to be used. */
  expires_minutes: z
    .number({ error: "expected a whole number of minutes, at least 1" })
    .int("expected a whole number of minutes, at least 1")
    .min(1, "expected a whole number of minutes, at least 1")
    .optional(),
  /** Console mode: the reviewer must be another principal than the requester. */
  two_person: z.boolean({ error: "expected true or false" }).optional(),
});
export type ApprovalRules = z.infer<typeof ApprovalRulesSchema>;

/** How approvals are asked for, with the defaults the policy leaves out. */
export interface ApprovalProcess {
  mode: "elicitation" | "console";
  expiresMinutes: number;
  twoPerson: boolean;
}

export const DEFAULT_APPROVAL_EXPIRES_MINUTES = 60;

export function approvalProcess(policy: Policy): ApprovalProcess {
  const rules = typeof policy.approval === "string" ? {} : policy.approval;
  return {
    mode: rules.mode ?? "elicitation",
    expiresMinutes: rules.expires_minutes ?? DEFAULT_APPROVAL_EXPIRES_MINUTES,
    twoPerson: rules.two_person ?? false,
  };
}

export const ApprovalSchema = z.union([z.enum(["none", "all"]), ApprovalRulesSchema], {
  error:
    "expected none, all, or a mapping of rules (command_types, scripts, device_tags, batch_size_at_least)",
});
export type Approval = z.infer<typeof ApprovalSchema>;

export const PolicySchema = z.strictObject({
  /** Only tools whose readOnlyHint is true are listed and callable. */
  read_only: z.boolean({ error: "expected true or false" }).default(false),
  scripts: z.array(ScriptRuleSchema).superRefine(uniqueNames, evenWithOtherProblems).optional(),
  put_file: z.array(LibraryFileRuleSchema).superRefine(uniqueNames, evenWithOtherProblems).optional(),
  get_file: GetFileRulesSchema.optional(),
  devices: DeviceRulesSchema.optional(),
  approval: ApprovalSchema.default("none"),
});
export type Policy = z.infer<typeof PolicySchema>;

/** No policy file: every tool, script, file, path and device is allowed and nothing needs approval. */
export const DEFAULT_POLICY: Policy = PolicySchema.parse({});
