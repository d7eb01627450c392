import { z } from "zod";

/**
 * Wire shapes of the Defender API as the client reads them. Microsoft adds fields and enum values
 * without notice, and its docs disagree on some names, so every schema ignores unknown fields, keeps
 * enums as plain strings (the known values are exported for the code that must decide on them), and
 * accepts each documented variant, normalising it to one name.
 */

const nullableString = z.string().nullable().default(null);
const nullableNumber = z.number().nullable().default(null);

export const ACTION_STATUSES = [
  "Pending",
  "InProgress",
  "Succeeded",
  "Failed",
  "TimeOut",
  "Cancelled",
] as const;
export const ACTION_FINAL_STATUSES = ["Succeeded", "Failed", "TimeOut", "Cancelled"] as const;

/** Unknown statuses are not final: an action the client cannot classify is still worth polling. */
export function isFinalActionStatus(status: string): boolean {
  return (ACTION_FINAL_STATUSES as readonly string[]).includes(status);
}

export const COMMAND_STATUSES = ["Created", "Completed", "Failed"] as const;
export const COMMAND_FINAL_STATUSES = ["Completed", "Failed"] as const;

/** Only the documented `Completed` and `Failed` end a command; anything else may still change. */
export function isFinalCommandStatus(status: string): boolean {
  return (COMMAND_FINAL_STATUSES as readonly string[]).includes(status);
}

export const COMMAND_TYPES = ["PutFile", "RunScript", "GetFile"] as const;

export const ACTION_TYPES = [
  "RunAntiVirusScan",
  "Offboard",
  "LiveResponse",
  "CollectInvestigationPackage",
  "Isolate",
  "Unisolate",
  "StopAndQuarantineFile",
  "RestrictCodeExecution",
  "UnrestrictCodeExecution",
] as const;

export const MACHINE_HEALTH_STATUSES = [
  "Active",
  "Inactive",
  "ImpairedCommunication",
  "NoSensorData",
  "NoSensorDataImpairedCommunication",
  "Unknown",
] as const;

/** No failed sample is documented: items may be strings or objects, so each becomes one line of text. */
function errorText(item: unknown): string {
  if (typeof item === "string") return item;
  if (item !== null && typeof item === "object") {
    const o = item as Record<string, unknown>;
    const message = o.message ?? o.Message ?? o.errorMessage;
    if (typeof message === "string") return message;
  }
  return JSON.stringify(item) ?? String(item);
}

export const CommandParamSchema = z.object({
  key: z.string(),
  value: z.string().nullable().default(null),
});
export type CommandParam = z.infer<typeof CommandParamSchema>;

export const MachineActionCommandSchema = z.object({
  index: z.number().int().nonnegative(),
  startTime: nullableString,
  endTime: nullableString,
  commandStatus: z.string(),
  errors: z
    .array(z.unknown())
    .nullable()
    .default([])
    .transform((items) => (items ?? []).map(errorText)),
  command: z
    .object({
      type: z.string(),
      params: z
        .array(CommandParamSchema)
        .nullable()
        .default([])
        .transform((p) => p ?? []),
    })
    .nullable()
    .default(null),
});
export type MachineActionCommand = z.infer<typeof MachineActionCommandSchema>;

export const RelatedFileInfoSchema = z.object({
  fileIdentifier: nullableString,
  fileIdentifierType: nullableString,
});

export const MachineActionSchema = z
  .object({
    id: z.string().min(1),
    type: z.string(),
    title: nullableString,
    requestor: nullableString,
    requestorComment: nullableString,
    status: z.string(),
    machineId: nullableString,
    computerDnsName: nullableString,
    creationDateTimeUtc: nullableString,
    lastUpdateDateTimeUtc: nullableString,
    /** The name some docs examples use instead of `lastUpdateDateTimeUtc`. */
    lastUpdateTimeUtc: nullableString,
    cancellationRequestor: nullableString,
    cancellationComment: nullableString,
    cancellationDateTimeUtc: nullableString,
    errorHResult: nullableNumber,
    scope: nullableString,
    externalId: nullableString,
    /** The docs' spelling of `externalId`. */
    externalID: nullableString,
    requestSource: nullableString,
    relatedFileInfo: RelatedFileInfoSchema.nullable().default(null),
    commands: z
      .array(MachineActionCommandSchema)
      .nullable()
      .default([])
      .transform((c) => c ?? []),
    troubleshootInfo: nullableString,
  })
  .transform(({ lastUpdateTimeUtc, externalID, ...action }) => ({
    ...action,
    lastUpdateDateTimeUtc: action.lastUpdateDateTimeUtc ?? lastUpdateTimeUtc,
    externalId: action.externalId ?? externalID,
  }));
export type MachineAction = z.infer<typeof MachineActionSchema>;

export const MachineSchema = z.object({
  id: z.string().min(1),
  computerDnsName: nullableString,
  firstSeen: nullableString,
  lastSeen: nullableString,
  osPlatform: nullableString,
  osVersion: nullableString,
  osBuild: nullableNumber,
  version: nullableString,
  agentVersion: nullableString,
  lastIpAddress: nullableString,
  lastExternalIpAddress: nullableString,
  healthStatus: nullableString,
  onboardingStatus: nullableString,
  rbacGroupId: z.union([z.number(), z.string()]).nullable().default(null),
  rbacGroupName: nullableString,
  riskScore: nullableString,
  exposureLevel: nullableString,
  deviceValue: nullableString,
  isAadJoined: z.boolean().nullable().default(null),
  aadDeviceId: nullableString,
  machineTags: z
    .array(z.string())
    .nullable()
    .default([])
    .transform((t) => t ?? []),
});
export type Machine = z.infer<typeof MachineSchema>;

export const LibraryFileSchema = z.object({
  fileName: z.string().min(1),
  sha256: nullableString,
  description: nullableString,
  creationTime: nullableString,
  lastUpdatedTime: nullableString,
  createdBy: nullableString,
  hasParameters: z
    .boolean()
    .nullable()
    .default(false)
    .transform((v) => v ?? false),
  /** Omitted by the API when `hasParameters` is false. */
  parametersDescription: nullableString,
});
export type LibraryFile = z.infer<typeof LibraryFileSchema>;

/** `@odata.count` as a number, or a number written as a string; anything else reads as absent. */
const optionalCount = z.preprocess(
  (v) => (typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v),
  z.number().int().nonnegative().optional().catch(undefined),
);

/** An OData collection page. `@odata.count` is often absent; `@odata.nextLink` only when more exist. */
export function odataCollectionSchema<Item extends z.ZodType>(item: Item) {
  return z.object({
    value: z.array(item),
    "@odata.nextLink": z
      .string()
      .nullish()
      .transform((v) => v ?? undefined),
    "@odata.count": optionalCount,
  });
}

export const MachineActionCollectionSchema = odataCollectionSchema(MachineActionSchema);
export const MachineCollectionSchema = odataCollectionSchema(MachineSchema);
export const LibraryFileCollectionSchema = odataCollectionSchema(LibraryFileSchema);

/** `GetLiveResponseResultDownloadLink` answers with the SAS URL as an OData string value. */
export const ResultLinkSchema = z.object({ value: z.string().min(1) });
export type ResultLink = z.infer<typeof ResultLinkSchema>;

/** Every documented error response; `target` is a per-request correlation id. */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string().min(1),
    // InternalServerError is documented with no message: null as much as absent.
    message: z
      .string()
      .nullish()
      .transform((v) => v ?? undefined),
    target: z
      .string()
      .nullish()
      .transform((v) => v ?? undefined),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** A number, or a number written as a string; anything else is unknown. */
const tolerantInteger = z.preprocess(
  (v) => (typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
  z.number().int().nullable().default(null).catch(null),
);
const tolerantText = z.string().nullable().default(null).catch(null);

/**
 * The JSON transcript a RunScript result link serves. Its content comes from the device, so every
 * field is optional and a field of the wrong type reads as absent instead of failing the whole result.
 */
export const RunScriptResultSchema = z.object({
  script_name: tolerantText,
  exit_code: tolerantInteger,
  script_output: tolerantText,
  script_errors: tolerantText,
});
export type RunScriptResult = z.infer<typeof RunScriptResultSchema>;
