import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lease } from "./lease.js";

/** How long a caller may wait for a lease: a point on `performance.now()`'s clock (Infinity: no end), and its cancel. */
export interface LeaseWait {
  deadline: number;
  signal?: AbortSignal | undefined;
}

export type AcquireOutcome =
  { granted: true; lease: Lease } | { granted: false; reason: "timeout" | "aborted" };

/** A holder's secret: only the one who has it can renew or release the lease it names. */
export function newLeaseToken(): string {
  return randomBytes(18).toString("base64url");
}

/**
 * Asks `attempt` for the lease until it grants one, every `pollMs`, within `wait`. Replicas learn of a
 * freed lease by asking again: leases change hands at the pace of sessions and device actions
 * (seconds to minutes), so a poll costs little next to a notification channel that would itself
 * need to survive Redis restarts. Errors of `attempt` (Redis unavailable) end the wait at once.
 */
export async function pollForLease(
  attempt: () => Promise<Lease | undefined>,
  wait: LeaseWait,
  pollMs: number,
): Promise<AcquireOutcome> {
  for (;;) {
    if (wait.signal?.aborted) return { granted: false, reason: "aborted" };
    const lease = await attempt();
    if (lease !== undefined) {
      // The caller gave up while the grant was on its way: the lease goes straight back.
      if (!wait.signal?.aborted) return { granted: true, lease };
      await lease.release();
      return { granted: false, reason: "aborted" };
    }
    const remaining = wait.deadline - performance.now();
    if (remaining <= 0) return { granted: false, reason: "timeout" };
    await sleep(Math.min(pollMs, remaining), undefined, { signal: wait.signal }).catch(() => undefined);
  }
}
