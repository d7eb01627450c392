import { z } from "zod";
import { ApprovalPayloadSchema } from "../safety/approvalPayload.js";

/** The id an approval request is followed by: a request id (get_action takes it), never a device's. */
export const APPROVAL_ID_PREFIX = "req_review_";

export const isApprovalId = (id: string): boolean => id.startsWith(APPROVAL_ID_PREFIX);

/** A device as the reviewer sees it: what it is called, what it runs, and how healthy it is. */
export const ReviewDeviceSchema = z.strictObject({
  id: z.string(),
  name: z.string().nullable(),
  os: z.string().nullable(),
  health: z.string().nullable(),
});
export type ReviewDevice = z.infer<typeof ReviewDeviceSchema>;

/** The commands as they will be submitted (LiveResponseCommand), kept so an approval can run later. */
const StoredCommandSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("RunScript"), scriptName: z.string(), args: z.string().optional() }),
  z.strictObject({ type: z.literal("PutFile"), fileName: z.string() }),
  z.strictObject({ type: z.literal("GetFile"), path: z.string() }),
]);

export const ReviewDecisionSchema = z.strictObject({
  reviewer: z.string().min(1),
  reason: z.string(),
  at: z.iso.datetime(),
});
export type ReviewDecision = z.infer<typeof ReviewDecisionSchema>;

/**
 * One request waiting for (or past) a reviewer's decision. `submitted` is set once the approved
 * request was handed to Defender: get_action then follows its devices' own request ids.
 */
export const PendingApprovalSchema = z.strictObject({
  id: z.string().startsWith(APPROVAL_ID_PREFIX),
  /** The request_id of the asking call's audit records. */
  call_id: z.string().min(1),
  status: z.enum(["pending", "approved", "denied", "expired", "withdrawn", "submitted"]),
  created_at: z.iso.datetime(),
  /** Pending: when it expires undecided; approved: when the approval can no longer be used. */
  expires_at: z.iso.datetime(),
  payload: ApprovalPayloadSchema,
  payload_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Why it needs approval: the policy's rule and reason. */
  rule: z.string(),
  reason: z.string(),
  policy_sha256: z.string().nullable(),
  two_person: z.boolean(),
  devices: z.array(ReviewDeviceSchema),
  run: z.strictObject({
    machineIds: z.array(z.string()),
    commands: z.array(StoredCommandSchema),
    comment: z.string(),
  }),
  decision: ReviewDecisionSchema.optional(),
  submitted: z.array(z.strictObject({ machine_id: z.string(), request_id: z.string() })).optional(),
});
export type PendingApproval = z.infer<typeof PendingApprovalSchema>;

export const PendingFileSchema = z.strictObject({
  version: z.literal(1),
  approvals: z.array(PendingApprovalSchema),
});
