export { DefenderClient } from "./defenderClient.js";
export type {
  CallOptions,
  DefenderClientOptions,
  ListQuery,
  ListResult,
  LiveResponseCommand,
  ResultDownloadLink,
  RunLiveResponseRequest,
} from "./defenderClient.js";
export { downloadResultBlob, downloadResultBlobToFile } from "./blobDownload.js";
export type { BlobDownloadOptions } from "./blobDownload.js";
export {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
  submitOutcome,
} from "./errors.js";
export type { DefenderEndpoint, RequestSent, ResponseProblem, SubmitOutcome } from "./errors.js";
export { DEFAULT_TIMEOUTS, DEFAULT_MAX_RESPONSE_BYTES, USER_AGENT } from "./httpTransport.js";
export type { CaOption, TransportTimeouts } from "./httpTransport.js";
export { assertActionId, assertCommandIndex, assertMachineId } from "./ids.js";
export { InvalidQueryError, filter, odataDateTime, odataString, toSearchParams } from "./odataQuery.js";
export type { ODataFilter, ODataQueryOptions } from "./odataQuery.js";
export { DEFAULT_RETRY_POLICY, backoffDelay, parseRetryAfter, shouldRetryRead } from "./retryPolicy.js";
export type { RetryDecision, RetryPolicy } from "./retryPolicy.js";
export {
  ACTION_FINAL_STATUSES,
  ACTION_STATUSES,
  ACTION_TYPES,
  COMMAND_FINAL_STATUSES,
  COMMAND_STATUSES,
  COMMAND_TYPES,
  MACHINE_HEALTH_STATUSES,
  LibraryFileSchema,
  MachineActionCommandSchema,
  MachineActionSchema,
  MachineSchema,
  RunScriptResultSchema,
  isFinalActionStatus,
  isFinalCommandStatus,
} from "./schemas.js";
export type {
  LibraryFile,
  Machine,
  MachineAction,
  MachineActionCommand,
  RunScriptResult,
} from "./schemas.js";
export {
  ApiLimiters,
  ApiLimitSettingsSchema,
  DEFAULT_API_LIMITS,
  resolveApiLimits,
  type ApiLimitSettings,
  type ApiLimitersSnapshot,
} from "./limits/apiLimiters.js";
