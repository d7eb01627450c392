import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { AuditLogError } from "../audit/auditError.js";
import { AuthenticationError } from "../auth/errors.js";
import { CoordinationUnavailableError } from "../coordination/errors.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
  submitOutcome,
  type DefenderEndpoint,
} from "../defender/errors.js";
import { InvalidQueryError } from "../defender/odataQuery.js";
import { SessionCapError } from "../liveResponse/sessionTracker.js";
import { SubmitOutcomeUnknownError } from "../liveResponse/submitReconciler.js";
import { ApprovalError } from "../safety/approvalError.js";
import { PolicyDeniedError } from "../safety/policyDeniedError.js";
import { COORDINATION_UNREACHABLE_NOTE } from "./statusDetail.js";

/**
 * The one place where a failure becomes words for an agent: what went wrong and what to do next.
 * Only messages that are safe where they are made are used: our own checks (which echo at most a
 * short malformed value), the auth layer's (secrets redacted at the source) and the API client's
 * (server text already passed through `redactSecrets`). Never a stack, a raw body, a token or a SAS link.
 */

export interface ErrorDescription {
  code: string;
  message: string;
  next_step: string;
}

export interface ErrorContext {
  /** The error ended a submit (runliveresponse): an unknown outcome must not be answered with "retry". */
  submit?: boolean;
  /** The action already running on the device, when a busy device's action could be looked up. */
  busyActionId?: string;
}

const RATE_LIMITS =
  "Defender allows 10 live response submits a minute per tenant, 100 reads a minute and 1,500 an hour, and 25 live response sessions at once";

const CHECK_COMMAND = "run `mde-live-response-mcp check` to see what is missing";

/** The application permission each call needs (reference §1.3). */
const PERMISSION: Record<DefenderEndpoint, string> = {
  runLiveResponse: "Machine.LiveResponse",
  cancelMachineAction: "Machine.LiveResponse",
  getMachineAction: "Machine.Read.All",
  listMachineActions: "Machine.Read.All",
  getLiveResponseResultDownloadLink: "Machine.Read.All",
  listMachines: "Machine.Read.All",
  getMachine: "Machine.Read.All",
  listLibraryFiles: "Library.Manage",
  downloadResultBlob: "Machine.Read.All",
};

const ACTION_ENDPOINTS: ReadonlySet<DefenderEndpoint> = new Set([
  "getMachineAction",
  "cancelMachineAction",
  "getLiveResponseResultDownloadLink",
  "listMachineActions",
]);

const REQUEST_REJECTED_CODES = new Set([
  "BadRequest",
  "InvalidInput",
  "InvalidRequestBody",
  "MissingRequiredParameter",
  "ODataError",
]);

const UNKNOWN_SUBMIT: Omit<ErrorDescription, "code"> = {
  message:
    "the submit may have reached Defender before the connection failed, so the action may already exist on the device",
  next_step:
    "do not send the same commands again at once: this server already looked for the action by its correlation tag; wait a minute, then call run_live_response once more — if the first submit went through, the device is busy and the error names its action: follow that one with get_action",
};

/** The API's own message, without the client's "<endpoint> failed with HTTP <status> <code>: " prefix. */
function apiDetail(error: DefenderApiError): string {
  return error.message.replace(/^\S+ failed with HTTP \d+ \S+: /, "");
}

function describeApiError(error: DefenderApiError, context: ErrorContext): ErrorDescription {
  const { code, status, endpoint } = error;
  const detail = apiDetail(error);
  const describe = (message: string, next_step: string): ErrorDescription => ({ code, message, next_step });

  if (code === "ActiveRequestAlreadyExists") {
    const busy = context.busyActionId;
    return describe(
      `the device is busy with another live response action${busy ? ` (action_id "${busy}")` : ""}; Defender runs one live response action per device at a time`,
      busy
        ? `wait for it with get_action (action_id "${busy}") or cancel it with cancel_action, then submit again`
        : "wait for the other action to finish (get_action with its action_id, from the run_live_response result that started it) or cancel it with cancel_action, then submit again",
    );
  }
  if (code === "ResourceNotFound" || code === "NotFound" || status === 404) {
    if (endpoint === "runLiveResponse") {
      return describe(
        `Defender did not find the device or a library file named in the commands: ${detail}`,
        "for a device, use find_machines to get its machine_id; for a script or file, use list_library_files (names must match exactly, including the extension)",
      );
    }
    if (endpoint === "getMachine" || endpoint === "listMachines") {
      return describe(`the device was not found: ${detail}`, "use find_machines to get the device id");
    }
    if (ACTION_ENDPOINTS.has(endpoint)) {
      return describe(
        `no machine action has this id: ${detail}`,
        'check action_id: use the action_id (or the request_id) returned by run_live_response; request ids ("req_…") are known only to the server process that issued them',
      );
    }
    return describe(`Defender did not find what was asked for: ${detail}`, "check the ids and names given");
  }
  if (code === "TooManyRequests" || status === 429) {
    const seconds = error.retryAfterMs === undefined ? 60 : Math.max(1, Math.ceil(error.retryAfterMs / 1000));
    return describe(
      `rate limited by Defender. ${RATE_LIMITS}`,
      `retry after ${seconds} s; meanwhile avoid other calls to Defender`,
    );
  }
  if (code === "DisabledFeature") {
    return describe(
      `live response is turned off for this tenant: ${detail}`,
      "an administrator must enable Settings > Endpoints > Advanced features > Live response in the Defender portal (and 'Live response for servers' for servers); retrying will not help",
    );
  }
  if (code === "Unauthorized" || status === 401) {
    return describe(
      "Defender rejected this server's access token",
      `check the app registration's credentials and that the token is issued for the Defender API; ${CHECK_COMMAND}`,
    );
  }
  if (code === "Forbidden" || (status === 403 && code !== "DisallowedOperation")) {
    return describe(
      `the app registration lacks the permission this call needs (${PERMISSION[endpoint]})`,
      `grant the application permissions Machine.LiveResponse, Machine.Read.All and Library.Manage (WindowsDefenderATP API) with admin consent; ${CHECK_COMMAND}`,
    );
  }
  if (code === "DisallowedOperation") {
    return describe(
      `Defender does not allow this operation: ${detail}`,
      "do not retry; choose another device or action",
    );
  }
  if (code === "OsPlatformNotSupported") {
    return describe(
      `the device's operating system does not support live response: ${detail}`,
      "choose another device: live response runs on supported Windows, Windows Server, macOS and Linux versions",
    );
  }
  if (code === "ClientVersionNotSupported") {
    return describe(
      `the device's Defender sensor is too old for live response: ${detail}`,
      "update the sensor on the device, or choose another device",
    );
  }
  if (endpoint === "cancelMachineAction" && status === 400) {
    return describe(
      `Defender would not cancel the action: ${detail}`,
      "the action was not final when read after this answer, so Defender refused for the reason in the message; check the action with get_action before trying again",
    );
  }
  if (REQUEST_REJECTED_CODES.has(code) || status === 400) {
    return describe(
      `Defender rejected the request: ${detail}`,
      "fix the request as the message says and call again",
    );
  }
  if (status >= 500 || status === 408) {
    if (context.submit && submitOutcome(error) === "unknown") return { code, ...UNKNOWN_SUBMIT };
    return describe(`Defender had a temporary problem (HTTP ${status})`, "retry in a minute");
  }
  return describe(
    `Defender answered HTTP ${status} ${code}: ${detail}`,
    "check the request; retry only if the message points to a temporary problem",
  );
}

function describeNetworkError(error: DefenderNetworkError, context: ErrorContext): ErrorDescription {
  if (context.submit && submitOutcome(error) === "unknown") return { code: error.code, ...UNKNOWN_SUBMIT };
  if (error.code === "ABORTED" && context.submit) {
    return {
      code: error.code,
      message: "the request was cancelled before this device's submit was sent: no action was created on it",
      next_step: "call run_live_response again for this device if the action is still wanted",
    };
  }
  if (error.code === "ABORTED") {
    return {
      code: error.code,
      message: "the request was cancelled before Defender answered",
      next_step: "call again if the answer is still needed",
    };
  }
  return {
    code: error.code,
    message: `could not reach Defender (${error.code})`,
    next_step:
      "this is usually temporary: retry in a minute; if it persists, check the server's network access to the Defender API (MDE_CLOUD, MDE_API_BASE_URL)",
  };
}

function describeAuthError(error: AuthenticationError): ErrorDescription {
  const message = `this server could not get a token for Defender: ${error.message}`;
  if (error.retryable) {
    return {
      code: error.code,
      message,
      next_step:
        "retry in a minute; if it persists, check AZURE_AUTHORITY_HOST and MDE_CLOUD and the network path to the identity platform",
    };
  }
  return {
    code: error.code,
    message,
    next_step: `fix the credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or a certificate) in the server's configuration; ${CHECK_COMMAND}`,
  };
}

/**
 * A person's "no" is an error for the agent: the request did not run, and the agent must not carry
 * on as if it had, nor ask again on its own. Its message says what the person decided, nothing more.
 */
function describeApprovalError(error: ApprovalError): ErrorDescription {
  const nothingSent = "nothing was sent to Defender";
  const next: Record<ApprovalError["code"], string> = {
    APPROVAL_DECLINED: `${nothingSent}; do not send the same request again unless the person asks for it — tell them what you wanted to run and why`,
    APPROVAL_CANCELLED: `${nothingSent}; ask the person whether they want it run before calling again (each call asks anew)`,
    APPROVAL_UNAVAILABLE: `${nothingSent}; use an MCP client that supports elicitation (form mode), or ask the operator whether this request may run without approval (the policy's approval rules)`,
    APPROVAL_PAYLOAD_CHANGED: `${nothingSent}; call again to ask for approval of the request as it is now (check list_library_files: a library file may have been replaced)`,
    APPROVAL_FAILED: `${nothingSent}; call again when a person can answer the approval question`,
  };
  return { code: error.code, message: error.message, next_step: next[error.code] };
}

export function describeError(error: unknown, context: ErrorContext = {}): ErrorDescription {
  if (error instanceof PolicyDeniedError) {
    const { rule, reason } = error.decision;
    return {
      code: error.code,
      message: `the policy denied this request (rule ${rule}): ${reason}`,
      next_step: `nothing was sent to Defender; change the request as the reason says, or ask the operator to change ${rule} in the policy file — the same request will be denied again`,
    };
  }
  if (error instanceof ApprovalError) return describeApprovalError(error);
  if (error instanceof AuditLogError && error.code === "AUDIT_SECRET_REFUSED") {
    return {
      code: "AUDIT_UNAVAILABLE",
      message:
        "the request holds something that looks like a credential (a token, a SAS signature, a private key or this server's secret), which this server never records, so it does not run it",
      next_step:
        "nothing was sent to Defender; remove it from the comment, the arguments or the paths and call again",
    };
  }
  if (error instanceof AuditLogError) {
    return {
      code: "AUDIT_UNAVAILABLE",
      message: `the audit log cannot record this request (${error.code}), and this server runs nothing it cannot record`,
      next_step:
        "nothing was sent to Defender; the operator must fix the audit log (MDE_AUDIT_LOG; the server's log says what is wrong); tools that only read keep working",
    };
  }
  if (error instanceof InvalidInputError) {
    return {
      code: error.code,
      message: `invalid ${error.field}: ${error.message}`,
      next_step: `fix ${error.field} as described and call again; nothing was sent to Defender`,
    };
  }
  if (error instanceof InvalidQueryError) {
    return {
      code: error.code,
      message: `the search could not be built: ${error.message}`,
      next_step: "change the search value and call again; nothing was sent to Defender",
    };
  }
  if (error instanceof DefenderApiError) return describeApiError(error, context);
  if (error instanceof DefenderNetworkError) return describeNetworkError(error, context);
  if (error instanceof DefenderResponseError) {
    if (context.submit) return { code: error.code, ...UNKNOWN_SUBMIT };
    return {
      code: error.code,
      message: "Defender sent a response this server could not read",
      next_step: "retry in a minute",
    };
  }
  if (error instanceof AuthenticationError) return describeAuthError(error);
  if (error instanceof SessionCapError) {
    return {
      code: error.code,
      message: error.message,
      next_step:
        "wait for the listed actions to finish (get_action) and call run_live_response again, or cancel actions queued on offline devices with cancel_action to free their sessions",
    };
  }
  if (error instanceof SubmitOutcomeUnknownError) {
    return { code: error.code, message: error.message, next_step: UNKNOWN_SUBMIT.next_step };
  }
  if (error instanceof CoordinationUnavailableError) {
    return {
      code: error.code,
      message: `nothing was sent to Defender: ${COORDINATION_UNREACHABLE_NOTE}`,
      next_step:
        "call again in a minute; if it lasts, tell whoever runs this server that its Redis is unreachable (its /readyz says so)",
    };
  }
  if (context.submit) return { code: "INTERNAL_ERROR", ...UNKNOWN_SUBMIT };
  return {
    code: "INTERNAL_ERROR",
    message: "the server failed while handling this call; the details are in its log",
    next_step: "retry once; if it fails again, report it to whoever runs this server",
  };
}

/** An `isError` result naming the cause and the next step. */
export function toToolError(error: unknown, context: ErrorContext = {}): CallToolResult {
  const { code, message, next_step } = describeError(error, context);
  return {
    content: [{ type: "text", text: `Error ${code}: ${message}\nNext step: ${next_step}` }],
    isError: true,
  };
}
