import { z } from "zod";
import { ReviewDecisionSchema, ReviewDeviceSchema, type PendingApproval } from "../pendingApproval.js";
import { requesterName } from "../pendingApprovals.js";
import { DiffLineSchema, mostSimilar } from "./requestDiff.js";

/** A request as the console shows it: everything a reviewer needs to decide, and the hash they decide on. */
export const RequestViewSchema = z.strictObject({
  id: z.string(),
  status: z.string(),
  created_at: z.string(),
  expires_at: z.string(),
  requester: z.string(),
  client: z.string(),
  comment: z.string(),
  /** Why it needs approval: the policy's rule and its reason. */
  policy_note: z.strictObject({ rule: z.string(), reason: z.string() }),
  two_person: z.boolean(),
  payload_sha256: z.string(),
  devices: z.array(ReviewDeviceSchema),
  commands: z.array(
    z.strictObject({
      type: z.string(),
      target: z.string(),
      args: z.string().nullable(),
      library_sha256: z.string().nullable(),
    }),
  ),
  decision: ReviewDecisionSchema.nullable(),
  similar: z
    .strictObject({
      id: z.string(),
      status: z.string(),
      created_at: z.string(),
      similarity: z.number(),
      decision: ReviewDecisionSchema.nullable(),
      diff: z.array(DiffLineSchema),
    })
    .nullable(),
});
export type RequestView = z.infer<typeof RequestViewSchema>;

/** Every request, the undecided first, each with the earlier request that most resembles it. */
export function requestViews(all: readonly PendingApproval[]): RequestView[] {
  const views = all.map((approval) => requestView(approval, all));
  return [...views.filter((v) => v.status === "pending"), ...views.filter((v) => v.status !== "pending")];
}

function requestView(approval: PendingApproval, all: readonly PendingApproval[]): RequestView {
  const { payload } = approval;
  const similar = mostSimilar(approval, all);
  return {
    id: approval.id,
    status: approval.status,
    created_at: approval.created_at,
    expires_at: approval.expires_at,
    requester: requesterName(approval),
    client: `${payload.requester.client_name} ${payload.requester.client_version}`,
    comment: payload.comment,
    policy_note: { rule: approval.rule, reason: approval.reason },
    two_person: approval.two_person,
    payload_sha256: approval.payload_sha256,
    devices: approval.devices,
    commands: payload.commands.map((c) => ({
      type: c.type,
      target: c.type === "RunScript" ? c.script_name : c.type === "PutFile" ? c.file_name : c.path,
      args: c.type === "RunScript" ? c.args : null,
      library_sha256: c.type === "GetFile" ? null : c.library_sha256,
    })),
    decision: approval.decision ?? null,
    similar:
      similar === undefined
        ? null
        : {
            id: similar.approval.id,
            status: similar.approval.status,
            created_at: similar.approval.created_at,
            similarity: Math.round(similar.similarity * 100) / 100,
            decision: similar.approval.decision ?? null,
            diff: similar.diff,
          },
  };
}
