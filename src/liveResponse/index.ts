export {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_MAX_SCRIPT_RESULT_BYTES,
  DEFAULT_POLL_INTERVAL_SECONDS,
  LiveResponseService,
} from "./liveResponseService.js";
export type { LiveResponseDeps } from "./liveResponseService.js";
export { DeviceBusyError } from "./deviceLocks.js";
export { DEFAULT_MAX_SESSIONS, SessionCapError } from "./sessionTracker.js";
export type { HeldSession, SessionCounts } from "./sessionTracker.js";
export { SubmitOutcomeUnknownError } from "./submitReconciler.js";
export { LocalRequestRegistry, SharedRequestSchema } from "./requestRegistry.js";
export type {
  RequestOutcome,
  RequestRegistry,
  RequestState,
  SharedRequest,
  SubmitClaim,
} from "./requestRegistry.js";
export type { SharedPolling, SharedState } from "./sharedPolling.js";
export { ArchiveError } from "./archiveError.js";
export type { ArchiveProblem } from "./archiveError.js";
export { cleanText } from "./cleanText.js";
export { describeAction, describeProgress } from "./progressMessage.js";
export type {
  CallOptions,
  CommandResultData,
  GetFileResultData,
  LiveResponseApi,
  NoResultData,
  RunScriptResultData,
  SubmitOptions,
  SubmittedRequest,
  WaitOptions,
  WaitProgress,
} from "./types.js";
