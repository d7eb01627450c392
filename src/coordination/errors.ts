/**
 * Errors of the coordination layer. Their messages never carry the Redis URL (it may hold a
 * password) or a lease token.
 */

/** Why Redis could not answer: the connection is down, it did not answer in time, or it answered with an error. */
export type UnavailableReason = "disconnected" | "timeout" | "redis-error";

/**
 * Redis did not answer, so shared state (windows, leases) cannot be read. Callers stop rather than
 * guess: nothing that needs a grant is sent until Redis is back, which the client notices by itself.
 */
export class CoordinationUnavailableError extends Error {
  override readonly name = "CoordinationUnavailableError";
  readonly code = "COORDINATION_UNAVAILABLE";

  constructor(
    readonly reason: UnavailableReason,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Redis, which keeps the limits shared by every replica, is unavailable (${reason}: ${detail}); ` +
        "nothing that needs a shared grant is sent until it is back",
      options,
    );
  }
}

/** How a lease ended without its holder releasing it. */
export type LeaseLossReason =
  /** Redis no longer has the lease under this holder's token: it lapsed and may belong to someone else. */
  | "taken"
  /** The lease's time ran out before a renewal was confirmed (the holder was frozen, or Redis was unreachable). */
  | "expired";

/** The holder no longer holds its lease and must not act as if it did. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  readonly code = "LEASE_LOST";

  constructor(
    readonly key: string,
    readonly reason: LeaseLossReason,
  ) {
    super(
      reason === "taken"
        ? `the lease on ${key} lapsed and is no longer this holder's`
        : `the lease on ${key} ran out before its renewal was confirmed`,
    );
  }
}
