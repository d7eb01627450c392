import { z } from "zod";
import { LiveResponseCommandSchema } from "./commandValidation.js";

/**
 * The MachineAction entity exactly as the API puts it on the wire (reference §4): every field, in
 * the order a real response has them, nulls where there is no value. Key order in these schemas is
 * the wire order, and the engine builds entities in the same order.
 */

export const ActionStatusSchema = z.enum([
  "Pending",
  "InProgress",
  "Succeeded",
  "Failed",
  "TimeOut",
  "Cancelled",
]);
export type ActionStatus = z.infer<typeof ActionStatusSchema>;

export const CommandStatusSchema = z.enum(["Created", "Completed", "Failed"]);
export type CommandStatus = z.infer<typeof CommandStatusSchema>;

export const ActionCommandEntitySchema = z.object({
  index: z.number().int(),
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
  commandStatus: CommandStatusSchema,
  errors: z.array(z.string()),
  command: LiveResponseCommandSchema,
});
export type ActionCommandEntity = z.infer<typeof ActionCommandEntitySchema>;

export const MachineActionEntitySchema = z.object({
  id: z.string(),
  type: z.literal("LiveResponse"),
  title: z.string().nullable(),
  requestor: z.string(),
  requestorComment: z.string().nullable(),
  status: ActionStatusSchema,
  machineId: z.string(),
  computerDnsName: z.string(),
  creationDateTimeUtc: z.string(),
  lastUpdateDateTimeUtc: z.string(),
  cancellationRequestor: z.string().nullable(),
  cancellationComment: z.string().nullable(),
  cancellationDateTimeUtc: z.string().nullable(),
  errorHResult: z.number().int(),
  scope: z.string().nullable(),
  externalId: z.string().nullable(),
  requestSource: z.literal("PublicApi"),
  relatedFileInfo: z.null(),
  commands: z.array(ActionCommandEntitySchema),
  troubleshootInfo: z.string().nullable(),
});
export type MachineActionEntity = z.infer<typeof MachineActionEntitySchema>;

export const FINAL_STATUSES: readonly ActionStatus[] = ["Succeeded", "Failed", "TimeOut", "Cancelled"];

export function isFinal(status: ActionStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** E_FAIL: what a failed action reports in errorHResult. */
export const HRESULT_FAILED = -2147467259;
/** HRESULT_FROM_WIN32(ERROR_TIMEOUT): what an action that ran out of time reports. */
export const HRESULT_TIMEOUT = -2147023436;

/** Action timestamps carry 7 fractional digits (.NET ticks), e.g. 2023-03-18T21:02:00.3538594Z. */
export function actionTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "0000Z");
}

/** Command times carry milliseconds, e.g. 2023-03-18T21:04:04.693Z. */
export function commandTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}
