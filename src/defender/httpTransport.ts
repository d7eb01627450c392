import { Agent, type Dispatcher } from "undici";
import type { z } from "zod";
import type { TokenProvider } from "../auth/tokenProvider.js";
import { ConfigError } from "../config/settings.js";
import { createLogger, type Logger } from "../logger.js";
import { version } from "../version.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  type DefenderEndpoint,
} from "./errors.js";
import { ApiLimiters, type ApiLimitSettings } from "./limits/apiLimiters.js";
import { AdmissionCancelledError } from "./limits/rateLimiter.js";
import { parseRetryAfter, resolveRetryPolicy, shouldRetryRead, type RetryPolicy } from "./retryPolicy.js";
import { ErrorBodySchema } from "./schemas.js";

/** Socket-level limits in real milliseconds. They guard against a dead network, not the API's schedule, so the time scale does not shrink them. */
export interface TransportTimeouts {
  /** TCP + TLS handshake. */
  connectMs: number;
  /** From sending the request until the response headers have arrived. */
  headersMs: number;
  /** Longest silence between two chunks of a response body. */
  bodyMs: number;
}

export const DEFAULT_TIMEOUTS: TransportTimeouts = { connectMs: 10_000, headersMs: 30_000, bodyMs: 60_000 };

/** A list of 10,000 machine actions (the API's page limit) is about 20 MB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export const USER_AGENT = `mde-live-response-mcp/${version}`;

/** Trust anchors (PEM) that replace Node's for this connection, e.g. a simulator's CA; omit to use Node's (and NODE_EXTRA_CA_CERTS). */
export type CaOption = string | Buffer | Array<string | Buffer>;

export interface HttpTransportOptions {
  /** e.g. https://api.securitycenter.microsoft.com; https only. */
  apiBaseUrl: string | URL;
  tokenProvider: TokenProvider;
  /** MDE_TIME_SCALE; scales the client's own retry delays and limit windows (never a server's Retry-After). */
  timeScale?: number;
  /** Extra CA certificate(s) to trust, e.g. the simulator's. */
  ca?: CaOption;
  timeouts?: Partial<TransportTimeouts>;
  retry?: Partial<RetryPolicy>;
  maxResponseBytes?: number;
  logger?: Logger;
  /** The API's call budgets; each omitted one keeps its documented default (DEFAULT_API_LIMITS). */
  limits?: Partial<ApiLimitSettings>;
  /**
   * Limiters to share with other clients of the same app registration (then `limits` is ignored, and
   * their owner stops them); by default the transport makes and stops its own.
   */
  limiters?: ApiLimiters;
  /** Told of every call sent (a retry and a 401's second try each count), e.g. for metrics by endpoint. */
  onApiCall?: ApiCallObserver;
}

/** One call as it went on the wire: named by its endpoint, never by an id, so it makes a low-cardinality label. */
export interface ApiCall {
  endpoint: DefenderEndpoint;
  method: "GET" | "POST";
  /** The HTTP status; null when no response came (network failure, timeout, abort). */
  status: number | null;
  durationMs: number;
}

export type ApiCallObserver = (call: ApiCall) => void;

export interface JsonRequest<T> {
  endpoint: DefenderEndpoint;
  method: "GET" | "POST";
  url: URL;
  /** Serialised as JSON. */
  body?: unknown;
  schema: z.ZodType<T>;
  /** "read" requests are retried by the retry policy; "never" is for POSTs that change something. */
  retry: "read" | "never";
  signal?: AbortSignal | undefined;
  admission?: Admission | undefined;
}

/**
 * The part of a call before it is sent: it waits in its limiter's line. Aborting `signal` there takes
 * the call out of the line, unsent; once admitted, only the request's own signal can stop it.
 * `onAdmitted` is called as the call leaves the line to be sent. `ready` is asked as the call leaves
 * the line and again right before it is sent (the token is taken in between): a call found not ready
 * then goes back to the line, unsent, and `onReturned` is called.
 */
export interface Admission {
  signal?: AbortSignal | undefined;
  ready?: (() => boolean) | undefined;
  onAdmitted?: (() => void) | undefined;
  onReturned?: (() => void) | undefined;
}

/** A call admitted but found not ready to be sent: it goes back to its limiter's line. */
class NotReadyToSend extends Error {
  override readonly name = "NotReadyToSend";
}

/** Parses a configured base URL; only HTTPS is accepted, since every request carries a bearer token. */
export function parseApiBaseUrl(value: string | URL): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      "the Defender API base URL is not an absolute URL such as https://api.securitycenter.microsoft.com",
    );
  }
  if (url.protocol !== "https:") {
    throw new ConfigError(
      `the Defender API base URL must use https: (got ${url.protocol}//${url.host}); bearer tokens are never sent in clear text`,
    );
  }
  return url;
}

/**
 * Passes a body through while counting it; past `maxBytes` it stops reading and throws what
 * `overflow` builds, so an oversized response never sits whole in memory.
 */
export async function* limitBytes(
  source: AsyncIterable<Buffer>,
  maxBytes: number,
  overflow: () => Error,
): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > maxBytes) throw overflow();
    yield chunk;
  }
}

/**
 * Lets go of a response body that was not (fully) read. `destroy()` alone would make undici emit an
 * abort error nobody listens to; `dump()` drains a small rest or closes the connection.
 */
export async function releaseBody(body: Dispatcher.ResponseData["body"]): Promise<void> {
  if (!body.destroyed) await body.dump().catch(() => undefined);
}

class BodyTooLargeError extends Error {}

async function readBody(body: Dispatcher.ResponseData["body"], maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of limitBytes(body, maxBytes, () => new BodyTooLargeError())) chunks.push(chunk);
  } finally {
    await releaseBody(body);
  }
  return Buffer.concat(chunks);
}

/**
 * The one way this client talks HTTP to the Defender API: one keep-alive undici Agent, the bearer
 * token on every request, JSON in and out with a size cap, a single token refresh on 401, and
 * retries of reads as the retry policy decides. Every request (a retry and a 401's second try
 * included) is admitted by the limiter of its budget right before it is sent.
 */
export class HttpTransport {
  readonly apiBaseUrl: URL;
  private readonly agent: Agent;
  private readonly tokenProvider: TokenProvider;
  private readonly policy: RetryPolicy;
  private readonly maxResponseBytes: number;
  private readonly ownsLimiters: boolean;
  private readonly onApiCall: ApiCallObserver | undefined;
  readonly limiters: ApiLimiters;
  readonly logger: Logger;

  constructor(options: HttpTransportOptions) {
    this.apiBaseUrl = parseApiBaseUrl(options.apiBaseUrl);
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.agent = new Agent({
      connect: { timeout: timeouts.connectMs, ...(options.ca === undefined ? {} : { ca: options.ca }) },
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
    });
    this.tokenProvider = options.tokenProvider;
    this.policy = resolveRetryPolicy({ timeScale: options.timeScale ?? 1, ...options.retry });
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.logger = (options.logger ?? createLogger()).child({ component: "defender" });
    this.ownsLimiters = options.limiters === undefined;
    this.onApiCall = options.onApiCall;
    this.limiters =
      options.limiters ??
      new ApiLimiters({
        timeScale: options.timeScale ?? 1,
        logger: this.logger,
        ...(options.limits ? { limits: options.limits } : {}),
      });
  }

  /**
   * A URL under the API base. Query keys keep their `$` and spaces become %20: OData services read
   * that form everywhere, while `+` for a space is only a form-encoding convention.
   */
  url(path: string, query?: URLSearchParams): URL {
    const url = new URL(this.apiBaseUrl);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
    const pairs = [...(query ?? new URLSearchParams())].map(
      ([key, value]) => `${encodeURIComponent(key).replace(/^%24/, "$")}=${encodeURIComponent(value)}`,
    );
    url.search = pairs.join("&");
    return url;
  }

  async request<T>(req: JsonRequest<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestOnce(req, attempt > 1);
      } catch (error) {
        if (req.retry === "never") {
          // A 429 refused the call without executing it, so sending it again cannot duplicate anything:
          // it waits at its limiter's gate, closed until the Retry-After, ahead of calls not yet tried,
          // and goes again (one probe first). Only an abort takes it out of that line, or a Retry-After
          // longer than this client waits for one (handed back, saying when to try again).
          if (!isThrottled(error) || attempt >= MAX_THROTTLED_ATTEMPTS) throw error;
          const decision = shouldRetryRead(error, 1, this.policy);
          const askedMs = (error as DefenderApiError).retryAfterMs ?? 0;
          if (!decision.retry || askedMs > decision.delayMs) throw error;
          this.logger.warn(
            { endpoint: req.endpoint, attempt },
            "the Defender API refused a call with 429; it keeps its place and goes again when the limiter's gate reopens",
          );
          continue;
        }
        const decision = shouldRetryRead(error, attempt, this.policy);
        if (!decision.retry) throw error;
        const throttled = error instanceof DefenderApiError && error.status === 429;
        // A 429 closed the limiter's gate until the server's Retry-After, and the retry waits there in
        // the queue. A wait the policy would cut short is not one to send early into: fail now.
        if (throttled && (error.retryAfterMs ?? 0) > decision.delayMs) throw error;
        this.logger.warn(
          { endpoint: req.endpoint, attempt, reason: decision.reason, delayMs: Math.round(decision.delayMs) },
          "retrying Defender API read",
        );
        if (!throttled) await sleep(decision.delayMs, req.signal, req.endpoint);
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsLimiters) await this.limiters.stop();
    await this.agent.close();
  }

  /** One logical request: a token, the call, and on 401 one forced token refresh and one more call. */
  private async requestOnce<T>(req: JsonRequest<T>, retrying: boolean): Promise<T> {
    let response = await this.send(req, false, retrying);
    if (response.statusCode === 401) {
      await releaseBody(response.body);
      response = await this.send(req, true, true);
    }
    return this.handle(req, response);
  }

  /**
   * One call through the limiter of its budget. The token is taken once the call is admitted, since
   * the wait can outlast it. A 429 closes the limiter's gate before the call counts as settled, so
   * no queued call is admitted on the strength of a budget the server says is spent.
   */
  private async send(
    req: JsonRequest<unknown>,
    forceRefresh: boolean,
    retrying: boolean,
  ): Promise<Dispatcher.ResponseData> {
    const limiter = this.limiters.forEndpoint(req.endpoint);
    const ready = req.admission?.ready;
    try {
      for (let again = false; ; again = true) {
        try {
          return await limiter.run(
            async () => {
              req.admission?.onAdmitted?.();
              const token = await this.token(req, forceRefresh);
              // The wait for the token may have outlasted what made the call ready (this process froze).
              if (ready?.() === false) {
                req.admission?.onReturned?.();
                throw new NotReadyToSend();
              }
              const response = await this.dispatch(req, token);
              if (response.statusCode === 429) limiter.pause(parseRetryAfter(response.headers, Date.now()));
              return response;
            },
            {
              signal: anySignal(req.signal, req.admission?.signal),
              priority: retrying || again ? "retry" : "normal",
              ready,
            },
          );
        } catch (error) {
          if (!(error instanceof NotReadyToSend)) throw error;
        }
      }
    } catch (error) {
      if (!(error instanceof AdmissionCancelledError)) throw error;
      if (error.code === "ADMISSION_ABORTED") throw abortedError(req.endpoint);
      throw new DefenderNetworkError({
        code: "CLIENT_CLOSED",
        sent: false,
        endpoint: req.endpoint,
        detail: "the client was closed before the call could be sent",
      });
    }
  }

  private async token(req: JsonRequest<unknown>, forceRefresh: boolean): Promise<string> {
    throwIfAborted(req.signal, req.endpoint);
    try {
      return await this.tokenProvider.getToken({
        forceRefresh,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (error) {
      throwIfAborted(req.signal, req.endpoint);
      throw error;
    }
  }

  private async dispatch(req: JsonRequest<unknown>, token: string): Promise<Dispatcher.ResponseData> {
    throwIfAborted(req.signal, req.endpoint);
    const started = performance.now();
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: "application/json",
      "user-agent": USER_AGENT,
    };
    if (req.body !== undefined) headers["content-type"] = "application/json";
    try {
      const response = await this.agent.request({
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers,
        body: req.body === undefined ? null : JSON.stringify(req.body),
        signal: req.signal ?? null,
      });
      const call = {
        method: req.method,
        endpoint: req.endpoint,
        status: response.statusCode,
        durationMs: elapsed(started),
      };
      this.logger.debug(call, "Defender API call");
      this.observe(call);
      return response;
    } catch (error) {
      const failure = DefenderNetworkError.from(error, req.endpoint, {
        dispatched: true,
        aborted: req.signal?.aborted ?? false,
      });
      const durationMs = elapsed(started);
      this.logger.debug(
        { method: req.method, endpoint: req.endpoint, code: failure.code, durationMs },
        "Defender API call failed",
      );
      this.observe({ method: req.method, endpoint: req.endpoint, status: null, durationMs });
      throw failure;
    }
  }

  /** An observer's failure is its own: the call it was told about goes on. */
  private observe(call: ApiCall): void {
    if (this.onApiCall === undefined) return;
    try {
      this.onApiCall(call);
    } catch (error) {
      this.logger.warn({ err: error, endpoint: call.endpoint }, "the API call observer failed");
    }
  }

  private async handle<T>(req: JsonRequest<T>, response: Dispatcher.ResponseData): Promise<T> {
    const status = response.statusCode;
    const ok = status >= 200 && status < 300;
    let raw: Buffer;
    try {
      raw = await readBody(response.body, ok ? this.maxResponseBytes : MAX_ERROR_BODY_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) {
        throw DefenderNetworkError.from(error, req.endpoint, {
          dispatched: true,
          aborted: req.signal?.aborted ?? false,
        });
      }
      if (ok) {
        throw new DefenderResponseError({
          status,
          endpoint: req.endpoint,
          reason: "too_large",
          detail: `the body is larger than the ${this.maxResponseBytes}-byte limit`,
        });
      }
      raw = Buffer.alloc(0);
    }
    if (!ok) throw this.apiError(req.endpoint, status, response.headers, raw);

    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new DefenderResponseError({
        status,
        endpoint: req.endpoint,
        reason: "not_json",
        detail: "the body is not JSON",
      });
    }
    const parsed = req.schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ");
      throw new DefenderResponseError({
        status,
        endpoint: req.endpoint,
        reason: "shape",
        detail: `the body does not have the documented shape (${issues})`,
      });
    }
    return parsed.data;
  }

  private apiError(
    endpoint: DefenderEndpoint,
    status: number,
    headers: Dispatcher.ResponseData["headers"],
    raw: Buffer,
  ): DefenderApiError {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      body = undefined;
    }
    const documented = ErrorBodySchema.safeParse(body);
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(headers, Date.now()) : undefined;
    if (documented.success) {
      const { code, message, target } = documented.data.error;
      return new DefenderApiError({
        status,
        code,
        detail: message ?? "(no message)",
        endpoint,
        requestId: target,
        retryAfterMs,
      });
    }
    return new DefenderApiError({
      status,
      code: `HttpStatus${status}`,
      detail: "the response has no error body in the documented shape",
      endpoint,
      retryAfterMs,
    });
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

function abortedError(endpoint: DefenderEndpoint): DefenderNetworkError {
  return DefenderNetworkError.from(undefined, endpoint, { dispatched: false, aborted: true });
}

function throwIfAborted(signal: AbortSignal | undefined, endpoint: DefenderEndpoint): void {
  if (signal?.aborted) throw abortedError(endpoint);
}

/** Waits between retries; the caller's abort ends the wait at once. */
function sleep(ms: number, signal: AbortSignal | undefined, endpoint: DefenderEndpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(endpoint));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(endpoint));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Tries of one call that changes something, each refused with 429, before its 429 is handed back: at a
 * minute's Retry-After each, half an hour of a tenant whose budget other tools keep spending.
 */
const MAX_THROTTLED_ATTEMPTS = 30;

function isThrottled(error: unknown): boolean {
  return error instanceof DefenderApiError && error.status === 429;
}

/** Aborts when either does; undefined when neither is given. */
function anySignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return AbortSignal.any([a, b]);
}
