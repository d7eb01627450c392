import { DefenderApiError, DefenderNetworkError, DefenderResponseError } from "../defender/errors.js";

/**
 * A failure worth trying again later (the client has already spent its own retries): the network,
 * the server's side, a limit, a garbled body. A 4xx such as 404 or 403 will not change by waiting,
 * and an abort is the caller's decision, so neither is transient.
 */
export function isTransientFailure(error: unknown): boolean {
  if (error instanceof DefenderNetworkError) return error.code !== "ABORTED";
  if (error instanceof DefenderApiError) {
    return error.status >= 500 || error.status === 429 || error.status === 408;
  }
  return error instanceof DefenderResponseError && error.reason !== "too_large";
}
