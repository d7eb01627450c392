import { scaleMs } from "../config/time.js";
import { DefenderApiError, DefenderNetworkError } from "./errors.js";

/**
 * Every retry decision of the client lives here. Only reads are retried: the submit and the cancel
 * are POSTs with effects, and a failed one is handed up (with `submitOutcome`) to be reconciled,
 * never re-sent from this layer. The policy's durations are real-world milliseconds and are scaled
 * once, here; a server's Retry-After is already in the server's time and is not.
 */

export interface RetryPolicy {
  /** Retries after the first attempt (so at most `maxRetries + 1` requests). */
  maxRetries: number;
  /** First exponential backoff delay. */
  baseMs: number;
  /** Cap of the exponential backoff delay. */
  maxMs: number;
  /** Longest wait after a 429/503 (real-world ms, scaled); a longer Retry-After is cut to this. */
  maxRetryAfterMs: number;
  /** Wait after a 429 that has no usable Retry-After (the API documents seconds; real clients use 60 s). */
  fallbackRetryAfterMs: number;
  /** MDE_TIME_SCALE: every duration above is divided by it. */
  timeScale: number;
  /** Source of jitter in [0, 1). */
  random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  baseMs: 1_000,
  maxMs: 64_000,
  maxRetryAfterMs: 120_000,
  fallbackRetryAfterMs: 60_000,
  timeScale: 1,
  random: Math.random,
};

export function resolveRetryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...overrides };
}

/** Response headers as undici (`IncomingHttpHeaders`) or fetch (`Headers`) give them. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

const DIGITS = /^\d+$/;

/**
 * The wait a response asks for, in real-world milliseconds: `retry-after-ms` / `x-ms-retry-after-ms`
 * first (Azure), then `Retry-After` as whole seconds or an HTTP date (a date in the past is 0).
 * Missing or unreadable: undefined, and the caller falls back to its own delay.
 */
export function parseRetryAfter(headers: HeaderSource, nowMs: number): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const value = header(headers, name)?.trim();
    if (value !== undefined && DIGITS.test(value)) return Number(value);
  }
  const value = header(headers, "retry-after")?.trim();
  if (value === undefined || value === "") return undefined;
  if (DIGITS.test(value)) return Number(value) * 1_000;
  // Not HTTP's form, but some gateways send fractional seconds; honouring them beats a 60 s fallback.
  if (/^\d+\.\d+$/.test(value)) return Math.ceil(Number(value) * 1_000);
  // Date.parse also reads bare numbers like "1.5" or "-3" as dates; only an HTTP date is meant here.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * Exponential backoff for the `attempt`-th retry (1-based): base × 2^(attempt−1), capped at maxMs,
 * then drawn uniformly from [delay/2, delay] so that clients that failed together do not retry together.
 */
export function backoffDelay(
  attempt: number,
  limits: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const delay = Math.min(limits.maxMs, limits.baseMs * 2 ** Math.max(0, attempt - 1));
  return delay / 2 + random() * (delay / 2);
}

export type RetryDecision = { retry: false } | { retry: true; delayMs: number; reason: string };

/** Connection failures worth another try: the next connection may well work. */
const RETRYABLE_NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

function statusOf(errorOrStatus: unknown): number | undefined {
  if (typeof errorOrStatus === "number") return errorOrStatus;
  if (errorOrStatus instanceof DefenderApiError) return errorOrStatus.status;
  return undefined;
}

/**
 * Whether a read (GET) that failed on its `attempt`-th try (1-based) should be tried again, and after
 * how long, in wall-clock ms. 429 waits for Retry-After; 408, 5xx (but 501 and 505, which will not
 * change) and dropped or timed-out connections back off exponentially; other 4xx, aborts and bad
 * bodies are final.
 */
export function shouldRetryRead(errorOrStatus: unknown, attempt: number, policy: RetryPolicy): RetryDecision {
  if (attempt > policy.maxRetries) return { retry: false };
  const scaled = (ms: number) => scaleMs(ms, policy.timeScale);
  const backoff = () => scaled(backoffDelay(attempt, policy, policy.random));

  if (errorOrStatus instanceof DefenderNetworkError) {
    if (!RETRYABLE_NETWORK_CODES.has(errorOrStatus.code)) return { retry: false };
    return { retry: true, delayMs: backoff(), reason: errorOrStatus.code };
  }

  const status = statusOf(errorOrStatus);
  if (status === undefined) return { retry: false };
  const retryAfterMs = errorOrStatus instanceof DefenderApiError ? errorOrStatus.retryAfterMs : undefined;

  // Retry-After is the server's own clock and is used as sent (a simulator running at a time scale
  // already sends scaled values); only this client's own durations are scaled.
  const serverWait = (ms: number) => Math.min(ms, scaled(policy.maxRetryAfterMs));
  if (status === 429) {
    const delayMs =
      retryAfterMs === undefined
        ? scaled(Math.min(policy.fallbackRetryAfterMs, policy.maxRetryAfterMs))
        : serverWait(retryAfterMs);
    return { retry: true, delayMs, reason: "HTTP 429" };
  }
  if (status === 408 || (status >= 500 && status !== 501 && status !== 505)) {
    const delayMs = status === 503 && retryAfterMs !== undefined ? serverWait(retryAfterMs) : backoff();
    return { retry: true, delayMs, reason: `HTTP ${status}` };
  }
  return { retry: false };
}
