/**
 * Errors of the Defender API client. Each has a `code` the layers above switch on, and a message
 * that is safe to show anywhere: it never carries a token, a raw response body or a SAS link's query.
 */

/** The client operation an error came from; used in messages, logs and metrics instead of URLs. */
export type DefenderEndpoint =
  | "runLiveResponse"
  | "getMachineAction"
  | "listMachineActions"
  | "cancelMachineAction"
  | "getLiveResponseResultDownloadLink"
  | "listMachines"
  | "getMachine"
  | "listLibraryFiles"
  | "downloadResultBlob";

const MAX_DETAIL_CHARS = 300;

/**
 * Server-supplied text and low-level error messages go through here before they reach a message:
 * a URL keeps its host and path but loses its query (a SAS signature lives there), and anything that
 * looks like a bearer token or a `sig=` parameter is cut out.
 */
export function redactSecrets(text: string): string {
  const redacted = text
    .replace(/(https?:\/\/[^\s?#"'<>]+)\?[^\s"'<>]*/gi, "$1?[redacted]")
    .replace(/\bsig=[^&\s"'<>]+/gi, "sig=[redacted]")
    .replace(/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, "Bearer [redacted]")
    .replace(/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "[redacted]");
  return redacted.length > MAX_DETAIL_CHARS ? `${redacted.slice(0, MAX_DETAIL_CHARS)}…` : redacted;
}

/** A URL as it may appear in a log line or a message: origin and path, never the query. */
export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** The API (or blob storage) answered with a status that is not a success. */
export class DefenderApiError extends Error {
  override readonly name = "DefenderApiError";
  readonly status: number;
  /** The error body's `code` (e.g. `ActiveRequestAlreadyExists`), or `HttpStatus<N>` when the body has none. */
  readonly code: string;
  /** The error body's `target`: Microsoft's per-request correlation id, for support cases. */
  readonly requestId: string | undefined;
  /**
   * How long the server asked callers to wait (429/503), in wall-clock ms as the server sent it. A
   * simulator running at a time scale already sends scaled values, so this is never scaled again.
   */
  readonly retryAfterMs: number | undefined;
  readonly endpoint: DefenderEndpoint;

  constructor(init: {
    status: number;
    code: string;
    detail: string;
    endpoint: DefenderEndpoint;
    requestId?: string | undefined;
    retryAfterMs?: number | undefined;
  }) {
    super(`${init.endpoint} failed with HTTP ${init.status} ${init.code}: ${redactSecrets(init.detail)}`);
    this.status = init.status;
    this.code = init.code;
    this.endpoint = init.endpoint;
    this.requestId = init.requestId;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** Where a network failure happened decides whether the server may have acted on the request. */
export type RequestSent = boolean | "unknown";

/** Failures before a connection is usable: the request cannot have reached the server. */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Failures after the request was written: the server may well be acting on it. */
const SENT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** The connection could not be made, dropped, or timed out; or the caller aborted. */
export class DefenderNetworkError extends Error {
  override readonly name = "DefenderNetworkError";
  /** e.g. `ECONNRESET`, `ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, `UND_ERR_BODY_TIMEOUT`, `UND_ERR_CONNECT_TIMEOUT`, `ABORTED`. */
  readonly code: string;
  /** Whether the request may have reached the server. */
  readonly sent: RequestSent;
  readonly endpoint: DefenderEndpoint;

  constructor(init: { code: string; sent: RequestSent; endpoint: DefenderEndpoint; detail: string }) {
    super(`${init.endpoint} failed: ${init.code} (${redactSecrets(init.detail)})`);
    this.code = init.code;
    this.sent = init.sent;
    this.endpoint = init.endpoint;
  }

  /**
   * Classifies a low-level failure. `dispatched` says whether the request had been handed to the
   * connection pool; `aborted` whether the caller's signal fired.
   */
  static from(
    error: unknown,
    endpoint: DefenderEndpoint,
    context: { dispatched: boolean; aborted: boolean },
  ): DefenderNetworkError {
    if (error instanceof DefenderNetworkError) return error;
    const detail = error instanceof Error ? error.message : String(error);
    if (context.aborted) {
      return new DefenderNetworkError({
        code: "ABORTED",
        sent: context.dispatched ? "unknown" : false,
        endpoint,
        detail: "the caller cancelled the request",
      });
    }
    const code = networkCodeOf(error);
    const sent: RequestSent = !context.dispatched
      ? false
      : isBeforeSend(code)
        ? false
        : SENT_CODES.has(code)
          ? true
          : "unknown";
    return new DefenderNetworkError({ code, sent, endpoint, detail });
  }
}

function isBeforeSend(code: string): boolean {
  return NOT_SENT_CODES.has(code) || /^ERR_(TLS|SSL)_/.test(code);
}

function networkCodeOf(error: unknown): string {
  const own = (error as { code?: unknown } | null)?.code;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  // undici reports a peer that hung up as UND_ERR_SOCKET ("other side closed"); to every caller
  // that is the same event as a TCP reset.
  if (own === "UND_ERR_SOCKET") return typeof cause === "string" ? cause : "ECONNRESET";
  if (typeof own === "string") return own;
  if (typeof cause === "string") return cause;
  return "ENETWORK";
}

/** Why a successful response could not be used. */
export type ResponseProblem = "not_json" | "shape" | "too_large" | "bad_link";

/** A 2xx whose body is not JSON, is too large, or does not have the documented shape. */
export class DefenderResponseError extends Error {
  override readonly name = "DefenderResponseError";
  readonly code = "INVALID_RESPONSE";
  readonly status: number;
  readonly endpoint: DefenderEndpoint;
  readonly reason: ResponseProblem;

  constructor(init: { status: number; endpoint: DefenderEndpoint; reason: ResponseProblem; detail: string }) {
    super(
      `${init.endpoint} returned HTTP ${init.status} with an unusable body: ${redactSecrets(init.detail)}`,
    );
    this.status = init.status;
    this.endpoint = init.endpoint;
    this.reason = init.reason;
  }
}

/** An argument was rejected before any request was made. */
export class InvalidInputError extends Error {
  override readonly name = "InvalidInputError";
  readonly code = "INVALID_INPUT";
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** How the next layer must treat a submit (`runLiveResponse`) that failed. */
export type SubmitOutcome = "not_executed" | "unknown";

/**
 * "not_executed": the API certainly did not create an action (rejected with a 4xx, or the request
 * never left this process), so sending it again is safe. "unknown": it may have run; look the action
 * up by its correlation tag instead of sending it again.
 */
export function submitOutcome(error: unknown): SubmitOutcome {
  if (error instanceof InvalidInputError) return "not_executed";
  if (error instanceof DefenderApiError) {
    // 408 means the server gave up waiting, possibly after it acted on a complete body.
    return error.status >= 400 && error.status < 500 && error.status !== 408 ? "not_executed" : "unknown";
  }
  if (error instanceof DefenderNetworkError) return error.sent === false ? "not_executed" : "unknown";
  return "unknown";
}
