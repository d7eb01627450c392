import type { LiveResponseCommand } from "../defender/defenderClient.js";
import { effectiveArgs } from "../defender/commandRules.js";
import type { LibraryFile, Machine } from "../defender/schemas.js";
import type { Decision } from "./decision.js";
import { parseDevicePath } from "./devicePath.js";
import type { LibraryFileRule, Policy } from "./policySchema.js";

/** A run request as the policy sees it, with devices and library entries as read from the API. */
export interface RunRequest {
  machines: readonly Machine[];
  commands: readonly LiveResponseCommand[];
  /** The requester's reason; carried for the approval prompt and the audit log, not judged here. */
  comment: string;
  /** The library listing, for the sha256 pins. */
  library: readonly LibraryFile[];
}

/**
 * Judges a run request against the policy: the first rule that denies wins (read-only, batch size,
 * device scope, then each command in order); a request nothing denies may still need a person's
 * approval. Pure and synchronous, so a denial costs no API call.
 */
export function evaluateRequest(policy: Policy, request: RunRequest): Decision {
  return (
    readOnlyDenial(policy) ??
    batchDenial(policy, request.machines) ??
    scopeDenial(policy, request.machines) ??
    commandDenial(policy, request) ??
    approvalNeeded(policy, request) ?? {
      outcome: "allow",
      rule: "policy",
      reason: "No rule of the policy restricts this request, and none requires a person's approval.",
    }
  );
}

const deny = (rule: string, reason: string): Decision => ({ outcome: "deny", rule, reason });
const approval = (rule: string, reason: string): Decision => ({ outcome: "approval", rule, reason });

/** Device names and paths come from outside; quoted and capped, they cannot pass for the sentence. */
function quote(value: string): string {
  const quoted = JSON.stringify(value);
  return quoted.length > 160 ? `${quoted.slice(0, 159)}…"` : quoted;
}

const deviceLabel = (m: Machine): string => `${quote(m.computerDnsName ?? "(no name)")} (${m.id})`;

function readOnlyDenial(policy: Policy): Decision | undefined {
  if (!policy.read_only) return undefined;
  return deny(
    "read_only",
    "The policy is read-only (read_only: true), so no live response command may run. The operator can change read_only in the policy file.",
  );
}

function batchDenial(policy: Policy, machines: readonly Machine[]): Decision | undefined {
  const max = policy.devices?.max_devices_per_call;
  if (max === undefined || machines.length <= max) return undefined;
  return deny(
    "devices.max_devices_per_call",
    `This request names ${machines.length} devices, and the policy allows at most ${max} in one call (devices.max_devices_per_call). Split it into calls of ${max} devices or fewer.`,
  );
}

/**
 * A device is in scope when it matches any of the listed criteria. Tags and groups compare exactly:
 * a spelling variant never widens the scope. No criteria listed: every device is in scope.
 */
function scopeDenial(policy: Policy, machines: readonly Machine[]): Decision | undefined {
  const d = policy.devices;
  if (d === undefined) return undefined;
  if (
    d.ids === undefined &&
    d.name_patterns === undefined &&
    d.tags === undefined &&
    d.groups === undefined
  ) {
    return undefined;
  }
  const inScope = (m: Machine): boolean =>
    (d.ids?.includes(m.id.toLowerCase()) ?? false) ||
    (d.name_patterns?.some((p) => m.computerDnsName !== null && p.test(m.computerDnsName)) ?? false) ||
    (d.tags?.some((t) => m.machineTags.includes(t)) ?? false) ||
    (d.groups?.some(
      (g) => g === m.rbacGroupName || (m.rbacGroupId !== null && g === String(m.rbacGroupId)),
    ) ??
      false);
  const outside = machines.find((m) => !inScope(m));
  if (outside === undefined) return undefined;
  return deny(
    "devices",
    `Device ${deviceLabel(outside)} is outside the policy's device scope (devices: ids, name_patterns, tags, groups). Choose devices in scope, or ask the operator to add this one.`,
  );
}

function commandDenial(policy: Policy, request: RunRequest): Decision | undefined {
  for (const [i, command] of request.commands.entries()) {
    const field = `commands[${i}]`;
    const decision =
      command.type === "RunScript"
        ? scriptDenial(policy, command, field, request.library)
        : command.type === "PutFile"
          ? putFileDenial(policy, command.fileName, field, request.library)
          : getFileDenial(policy, command.path, field);
    if (decision !== undefined) return decision;
  }
  return undefined;
}

function scriptDenial(
  policy: Policy,
  command: Extract<LiveResponseCommand, { type: "RunScript" }>,
  field: string,
  library: readonly LibraryFile[],
): Decision | undefined {
  if (policy.scripts === undefined) return undefined;
  const index = policy.scripts.findIndex((s) => s.name === command.scriptName);
  const rule = policy.scripts[index];
  if (rule === undefined) {
    return deny(
      "scripts",
      `Script ${quote(command.scriptName)} (${field}.script_name) is not in the policy's script allowlist (scripts). ${choices(policy.scripts)}`,
    );
  }
  const pin = pinDenial(rule, `scripts[${index}]`, field, library);
  if (pin !== undefined) return pin;
  const args = effectiveArgs(command.args) ?? "";
  if (rule.args_pattern !== undefined && !rule.args_pattern.test(args)) {
    return deny(
      `scripts[${index}].args_pattern`,
      `The arguments of ${rule.name} (${field}.args) do not match the pattern the policy sets for them (scripts[${index}].args_pattern: ${rule.args_pattern.source}). Pass arguments that match it as a whole.`,
    );
  }
  return undefined;
}

function putFileDenial(
  policy: Policy,
  fileName: string,
  field: string,
  library: readonly LibraryFile[],
): Decision | undefined {
  if (policy.put_file === undefined) return undefined;
  const index = policy.put_file.findIndex((f) => f.name === fileName);
  const rule = policy.put_file[index];
  if (rule === undefined) {
    return deny(
      "put_file",
      `Library file ${quote(fileName)} (${field}.file_name) is not among the files the policy lets PutFile copy (put_file). ${choices(policy.put_file)}`,
    );
  }
  return pinDenial(rule, `put_file[${index}]`, field, library);
}

function choices(rules: readonly LibraryFileRule[]): string {
  if (rules.length === 0) return "The policy allows none; the operator can add it to the policy file.";
  const names = rules.slice(0, 10).map((r) => r.name);
  return `Use one of ${names.join(", ")}${rules.length > names.length ? ", …" : ""}, or ask the operator to add it.`;
}

/** A pinned file whose library entry is missing or different is refused: its content is not the one reviewed. */
function pinDenial(
  rule: LibraryFileRule,
  rulePath: string,
  field: string,
  library: readonly LibraryFile[],
): Decision | undefined {
  if (rule.sha256 === undefined) return undefined;
  const entry = library.find((f) => f.fileName === rule.name);
  const actual = entry?.sha256?.toLowerCase();
  if (actual === rule.sha256) return undefined;
  const found =
    entry === undefined
      ? "the library listing has no file of that name"
      : actual === undefined
        ? "the library listing gives no sha256 for it"
        : `the library's copy has sha256 ${actual}, so it was replaced since the pin was set`;
  return deny(
    `${rulePath}.sha256`,
    `${rule.name} (${field}) is pinned to sha256 ${rule.sha256} by ${rulePath}.sha256, but ${found}. The operator must review the library file and update the pin.`,
  );
}

function getFileDenial(policy: Policy, raw: string, field: string): Decision | undefined {
  const parsed = parseDevicePath(raw);
  if (!parsed.ok) {
    return deny(
      "path_safety",
      `GetFile path ${quote(raw)} (${field}.path) is refused because ${parsed.reason}. This rule is built in: no policy can allow it.`,
    );
  }
  const rules = policy.get_file;
  if (rules === undefined) return undefined;
  const denied = rules.deny.findIndex((p) => p.matches(parsed.path));
  if (denied >= 0) {
    return deny(
      `get_file.deny[${denied}]`,
      `GetFile path ${quote(raw)} (${field}.path) matches get_file.deny[${denied}] (${rules.deny[denied]?.source}); the policy forbids collecting files there.`,
    );
  }
  if (rules.allow.some((p) => p.matches(parsed.path))) return undefined;
  return deny(
    "get_file.allow",
    rules.allow.length === 0
      ? `GetFile is not allowed: the policy's get_file.allow lists no path. The operator can add patterns to it.`
      : `GetFile path ${quote(raw)} (${field}.path) matches no pattern of get_file.allow (${rules.allow.map((p) => p.source).join(", ")}). Collect a file under one of them, or ask the operator to allow this path.`,
  );
}

/**
 * Approval rules compare script names and tags ignoring case: a spelling variant never escapes
 * approval. The first rule that applies is named.
 */
function approvalNeeded(policy: Policy, request: RunRequest): Decision | undefined {
  const rules = policy.approval;
  if (rules === "none") return undefined;
  if (rules === "all") {
    return approval(
      "approval",
      "The policy requires a person's approval for every live response request (approval: all).",
    );
  }
  const type = request.commands.find((c) => rules.command_types?.includes(c.type))?.type;
  if (type !== undefined) {
    return approval(
      "approval.command_types",
      `The policy requires a person's approval for ${type} commands (approval.command_types).`,
    );
  }
  const needScripts = new Set(rules.scripts?.map((s) => s.toLowerCase()));
  const script = request.commands.find(
    (c): c is Extract<LiveResponseCommand, { type: "RunScript" }> =>
      c.type === "RunScript" && needScripts.has(c.scriptName.toLowerCase()),
  );
  if (script !== undefined) {
    return approval(
      "approval.scripts",
      `The policy requires a person's approval to run ${quote(script.scriptName)} (approval.scripts).`,
    );
  }
  const needTags = new Set(rules.device_tags?.map((t) => t.toLowerCase()));
  for (const m of request.machines) {
    const tag = m.machineTags.find((t) => needTags.has(t.toLowerCase()));
    if (tag !== undefined) {
      return approval(
        "approval.device_tags",
        `The policy requires a person's approval for devices tagged ${quote(tag)}, such as ${deviceLabel(m)} (approval.device_tags).`,
      );
    }
  }
  const batch = rules.batch_size_at_least;
  if (batch !== undefined && request.machines.length >= batch) {
    return approval(
      "approval.batch_size_at_least",
      `This request names ${request.machines.length} devices, and the policy requires a person's approval for ${batch} or more (approval.batch_size_at_least).`,
    );
  }
  return undefined;
}
