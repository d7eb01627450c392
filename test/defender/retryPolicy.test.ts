import { describe, expect, it } from "vitest";
import { DefenderApiError, DefenderNetworkError } from "../../src/defender/errors.js";
import {
  backoffDelay,
  parseRetryAfter,
  resolveRetryPolicy,
  shouldRetryRead,
} from "../../src/defender/retryPolicy.js";

const NOW = Date.parse("2026-01-01T00:00:00Z");

function apiError(status: number, retryAfterMs?: number): DefenderApiError {
  return new DefenderApiError({
    status,
    code: `HttpStatus${status}`,
    detail: "x",
    endpoint: "getMachineAction",
    retryAfterMs,
  });
}

function networkError(code: string): DefenderNetworkError {
  return new DefenderNetworkError({ code, sent: "unknown", endpoint: "getMachineAction", detail: code });
}

describe("parseRetryAfter", () => {
  it("prefers the millisecond headers over Retry-After", () => {
    expect(parseRetryAfter({ "retry-after-ms": "250", "retry-after": "9" }, NOW)).toBe(250);
    expect(parseRetryAfter({ "x-ms-retry-after-ms": "40", "retry-after": "9" }, NOW)).toBe(40);
  });

  it("reads Retry-After as whole seconds", () => {
    expect(parseRetryAfter({ "retry-after": "7" }, NOW)).toBe(7_000);
    expect(parseRetryAfter({ "Retry-After": " 0 " }, NOW)).toBe(0);
  });

  it("reads Retry-After as an HTTP date, and a past date as 0", () => {
    expect(parseRetryAfter({ "retry-after": new Date(NOW + 5_000).toUTCString() }, NOW)).toBe(5_000);
    expect(parseRetryAfter({ "retry-after": new Date(NOW - 60_000).toUTCString() }, NOW)).toBe(0);
  });

  it("works with fetch Headers too", () => {
    expect(parseRetryAfter(new Headers({ "Retry-After": "3" }), NOW)).toBe(3_000);
  });

  it("honours fractional seconds some gateways send", () => {
    expect(parseRetryAfter({ "retry-after": "1.5" }, NOW)).toBe(1_500);
  });

  it("returns undefined when missing or garbage", () => {
    expect(parseRetryAfter({}, NOW)).toBeUndefined();
    expect(parseRetryAfter({ "retry-after": "soon" }, NOW)).toBeUndefined();
    expect(parseRetryAfter({ "retry-after": "-5" }, NOW)).toBeUndefined();
    expect(parseRetryAfter({ "retry-after-ms": "abc" }, NOW)).toBeUndefined();
  });
});

describe("backoffDelay", () => {
  const limits = { baseMs: 1_000, maxMs: 8_000 };

  it("doubles per attempt and draws jitter from [delay/2, delay]", () => {
    expect(backoffDelay(1, limits, () => 0)).toBe(500);
    expect(backoffDelay(1, limits, () => 0.999999)).toBeCloseTo(1_000, 0);
    expect(backoffDelay(2, limits, () => 0)).toBe(1_000);
    expect(backoffDelay(3, limits, () => 0.5)).toBe(3_000);
  });

  it("caps the delay at maxMs", () => {
    expect(backoffDelay(10, limits, () => 0)).toBe(4_000);
    expect(backoffDelay(10, limits, () => 0.999999)).toBeCloseTo(8_000, 0);
  });
});

describe("shouldRetryRead", () => {
  const policy = resolveRetryPolicy({ random: () => 0, timeScale: 1 });

  it("retries 429 after its Retry-After, clamped to maxRetryAfterMs", () => {
    expect(shouldRetryRead(apiError(429, 2_000), 1, policy)).toMatchObject({ retry: true, delayMs: 2_000 });
    expect(shouldRetryRead(apiError(429, 999_000), 1, policy)).toMatchObject({
      retry: true,
      delayMs: 120_000,
    });
  });

  it("waits 60 s after a 429 without Retry-After", () => {
    expect(shouldRetryRead(apiError(429), 1, policy)).toMatchObject({ retry: true, delayMs: 60_000 });
    expect(shouldRetryRead(429, 1, policy)).toMatchObject({ retry: true, delayMs: 60_000 });
  });

  it("scales its own delays by the time scale, but not the server's Retry-After", () => {
    const fast = resolveRetryPolicy({ random: () => 0, timeScale: 600 });
    expect(shouldRetryRead(apiError(429), 1, fast)).toMatchObject({ delayMs: 100 });
    expect(shouldRetryRead(apiError(500), 1, fast)).toMatchObject({ delayMs: 500 / 600 });
    expect(shouldRetryRead(apiError(429, 150), 1, fast)).toMatchObject({ delayMs: 150 });
    // The clamp is the client's own duration, so it is scaled: 120 s / 600.
    expect(shouldRetryRead(apiError(429, 60_000), 1, fast)).toMatchObject({ delayMs: 200 });
  });

  it("retries 408 and 5xx with exponential backoff, but not 501 or 505", () => {
    for (const status of [408, 500, 502, 503, 504]) {
      expect(shouldRetryRead(status, 2, policy)).toMatchObject({ retry: true, delayMs: 1_000 });
    }
    expect(shouldRetryRead(501, 1, policy)).toEqual({ retry: false });
    expect(shouldRetryRead(505, 1, policy)).toEqual({ retry: false });
  });

  it("honours Retry-After on a 503", () => {
    expect(shouldRetryRead(apiError(503, 3_000), 1, policy)).toMatchObject({ retry: true, delayMs: 3_000 });
  });

  it("never retries 400, 401, 403 or 404", () => {
    for (const status of [400, 401, 403, 404]) {
      expect(shouldRetryRead(apiError(status), 1, policy)).toEqual({ retry: false });
    }
  });

  it("retries resets, refusals and timeouts, but not aborts or TLS failures", () => {
    for (const code of [
      "ECONNRESET",
      "ECONNREFUSED",
      "UND_ERR_HEADERS_TIMEOUT",
      "UND_ERR_BODY_TIMEOUT",
      "UND_ERR_CONNECT_TIMEOUT",
    ]) {
      expect(shouldRetryRead(networkError(code), 1, policy)).toMatchObject({ retry: true, reason: code });
    }
    expect(shouldRetryRead(networkError("ABORTED"), 1, policy)).toEqual({ retry: false });
    expect(shouldRetryRead(networkError("DEPTH_ZERO_SELF_SIGNED_CERT"), 1, policy)).toEqual({ retry: false });
  });

  it("stops after maxRetries", () => {
    expect(shouldRetryRead(500, 3, policy)).toMatchObject({ retry: true });
    expect(shouldRetryRead(500, 4, policy)).toEqual({ retry: false });
    expect(shouldRetryRead(500, 1, resolveRetryPolicy({ maxRetries: 0 }))).toEqual({ retry: false });
  });

  it("does not retry what it cannot classify", () => {
    expect(shouldRetryRead(new Error("boom"), 1, policy)).toEqual({ retry: false });
  });
});
