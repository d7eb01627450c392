import { z } from "zod";
import type { LiveResponseCommand } from "../defender/defenderClient.js";
import { DecisionSchema } from "../policy/decision.js";

/**
 * What the audit log records, one kind per step of a request: the request, the policy's decision,
 * approval asked / given / refused, submission, final status, result fetched, cancel. Every object is
 * strict: a record carries only the fields named here, so nothing unplanned (a token, a whole
 * response) can ride along. Records of one tool call share its `request_id`.
 */

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected a lower-case hex SHA-256");

/** Who asked: the MCP client as it named itself at initialize; the authenticated principal over HTTP. */
export const WhoSchema = z.strictObject({
  client_name: z.string(),
  client_version: z.string(),
  principal: z.string().min(1).optional(),
});
export type Who = z.infer<typeof WhoSchema>;

const common = {
  request_id: z.string().min(1),
  who: WhoSchema.optional(),
  /** The requester's `comment`, as sent to Defender. */
  why: z.string().optional(),
};

export const AuditMachineSchema = z.strictObject({ id: z.string().min(1), name: z.string().nullable() });

export const AuditCommandSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("PutFile"), file_name: z.string() }),
  z.strictObject({ type: z.literal("RunScript"), script_name: z.string(), args: z.string().optional() }),
  z.strictObject({ type: z.literal("GetFile"), path: z.string() }),
]);
export type AuditCommand = z.infer<typeof AuditCommandSchema>;

/** A command in the audit log's snake_case, the names the tools and the policy file use. */
export function auditCommand(command: LiveResponseCommand): AuditCommand {
  switch (command.type) {
    case "PutFile":
      return { type: "PutFile", file_name: command.fileName };
    case "RunScript":
      return { type: "RunScript", script_name: command.scriptName, args: command.args };
    case "GetFile":
      return { type: "GetFile", path: command.path };
  }
}

export const RequestRecordSchema = z.strictObject({
  kind: z.literal("request"),
  ...common,
  who: WhoSchema,
  why: z.string(),
  tool: z.string().min(1),
  machines: z.array(AuditMachineSchema),
  commands: z.array(AuditCommandSchema),
});

export const PolicyDecisionRecordSchema = z.strictObject({
  kind: z.literal("policy_decision"),
  ...common,
  ...DecisionSchema.shape,
  /** The policy file's SHA-256; null when no policy file is set. */
  policy_sha256: sha256Hex.nullable(),
});

/** The hash of exactly what the person was shown: an approval covers that payload and nothing else. */
const approval = { ...common, payload_sha256: sha256Hex };

export const ApprovalRequestedRecordSchema = z.strictObject({
  kind: z.literal("approval_requested"),
  ...approval,
});
/** A decision made in the review console names its reviewer and the reason they gave. */
const reviewed = {
  reviewer: z.string().min(1).optional(),
  reason: z.string().optional(),
};

export const ApprovalGivenRecordSchema = z.strictObject({
  kind: z.literal("approval_given"),
  ...approval,
  ...reviewed,
});
export const ApprovalRefusedRecordSchema = z.strictObject({
  kind: z.literal("approval_refused"),
  ...approval,
  ...reviewed,
  /**
   * decline / cancel: the person's answer; unsupported: the client cannot ask; payload_changed: not
   * the approved payload; expired: no decision, or no use of the approval, in time; withdrawn: the
   * agent cancelled the request while it awaited approval.
   */
  response: z.enum(["decline", "cancel", "unsupported", "payload_changed", "error", "expired", "withdrawn"]),
});

export const SubmittedRecordSchema = z.strictObject({
  kind: z.literal("submitted"),
  ...common,
  action_id: z.string().min(1),
  machine_id: z.string().min(1),
  /** The tag written into the action's Comment: the portal's action center and this log point at each other. */
  correlation_tag: z.string().min(1),
});

export const FinalStatusRecordSchema = z.strictObject({
  kind: z.literal("final_status"),
  ...common,
  /** Null when the request ended before an action existed (refused at submit, withdrawn from the queue). */
  action_id: z.string().min(1).nullable(),
  machine_id: z.string().min(1),
  status: z.string().min(1),
  errors: z.array(z.string()).optional(),
});

export const ArtifactSchema = z.strictObject({
  name: z.string().min(1),
  sha256: sha256Hex,
  bytes: z.number().int().nonnegative(),
});

export const ResultFetchedRecordSchema = z.strictObject({
  kind: z.literal("result_fetched"),
  ...common,
  action_id: z.string().min(1),
  command_index: z.number().int().nonnegative(),
  /** A RunScript's exit code as the transcript gave it (null when it gave none); absent for files. */
  exit_code: z.number().int().nullable().optional(),
  /** The script output, or each file collected, by SHA-256: what the model saw can be proven later. */
  artifacts: z.array(ArtifactSchema),
});

export const CancelRecordSchema = z.strictObject({
  kind: z.literal("cancel"),
  ...common,
  action_id: z.string().min(1),
  /** The action's status after the cancel request (Cancelled, or the final status it already had). */
  status: z.string().min(1),
});

export const AuditRecordSchema = z.discriminatedUnion("kind", [
  RequestRecordSchema,
  PolicyDecisionRecordSchema,
  ApprovalRequestedRecordSchema,
  ApprovalGivenRecordSchema,
  ApprovalRefusedRecordSchema,
  SubmittedRecordSchema,
  FinalStatusRecordSchema,
  ResultFetchedRecordSchema,
  CancelRecordSchema,
]);
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

/** What the log adds to every record: its place in the chain. */
export const ChainFieldsSchema = z.strictObject({
  seq: z.number().int().positive(),
  time: z.iso.datetime(),
  /** The previous record's hash; GENESIS_HASH for the first. */
  prev: sha256Hex,
  /** SHA-256 of the canonical JSON of this record with seq, time and prev (everything but hash). */
  hash: sha256Hex,
});
export type ChainFields = z.infer<typeof ChainFieldsSchema>;

export type AuditEntry = ChainFields & AuditRecord;
