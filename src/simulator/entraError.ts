import { randomUUID } from "node:crypto";
import type { JsonReply } from "./httpUtil.js";

/**
 * An error as the Microsoft identity platform answers it: an OAuth `error`, an `error_description`
 * starting with its AADSTS code and ending with trace and correlation ids, and `error_codes`.
 * Descriptions are written here, never copied from the request, so a secret cannot be echoed.
 */
export interface EntraError {
  status: number;
  error: string;
  aadsts: number;
  /** The text after "AADSTSnnn: ". */
  message: string;
}

export function entraError(status: number, error: string, aadsts: number, message: string): EntraError {
  return { status, error, aadsts, message };
}

/** AADSTS900144: a required parameter is absent. */
export function missingParameter(name: string): EntraError {
  return entraError(
    400,
    "invalid_request",
    900144,
    `The request body must contain the following parameter: '${name}'.`,
  );
}

/** `timestamp` in Entra's "YYYY-MM-DD hh:mm:ssZ" format. */
function entraTimestamp(now: Date): string {
  return now
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

export function entraErrorReply(err: EntraError, now: Date, correlationId: string = randomUUID()): JsonReply {
  const traceId = randomUUID();
  const timestamp = entraTimestamp(now);
  return {
    status: err.status,
    // A transient 503 says when to come back: without Retry-After, msal-node replays the cached
    // failure for 60 s without asking again, so an outage would outlast its cause by a minute.
    headers: {
      "cache-control": "no-store, no-cache",
      pragma: "no-cache",
      ...(err.status === 503 ? { "retry-after": "1" } : {}),
    },
    body: {
      error: err.error,
      error_description:
        `AADSTS${err.aadsts}: ${err.message}\r\nTrace ID: ${traceId}\r\n` +
        `Correlation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [err.aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${err.aadsts}`,
    },
  };
}
