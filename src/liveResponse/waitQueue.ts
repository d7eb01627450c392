/** How long a caller may wait for its turn: a point on `performance.now()`'s clock, and its cancel. */
export interface WaitLimits {
  deadline: number;
  signal?: AbortSignal | undefined;
}

export type WaitEnd = "granted" | "timeout" | "aborted";

interface Waiter {
  settle(end: WaitEnd): void;
}

/**
 * Callers waiting for one kind of turn, first come first served. The one who frees the resource
 * hands it over with `grantNext()` before anyone else can take it, so a newcomer never overtakes a
 * caller that has waited longer.
 */
export class WaitQueue {
  private readonly waiters: Waiter[] = [];

  get length(): number {
    return this.waiters.length;
  }

  /** Resolves "granted" once `grantNext()` picks this caller; "timeout" or "aborted" otherwise. */
  wait(limits: WaitLimits): Promise<WaitEnd> {
    const { signal } = limits;
    if (signal?.aborted) return Promise.resolve("aborted");
    const remaining = limits.deadline - performance.now();
    if (remaining <= 0) return Promise.resolve("timeout");
    return new Promise<WaitEnd>((resolve) => {
      const waiter: Waiter = {
        settle: (end) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          resolve(end);
        },
      };
      const onAbort = () => waiter.settle("aborted");
      const timer = setTimeout(() => waiter.settle("timeout"), remaining);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Wakes the caller that has waited longest; false when nobody waits. */
  grantNext(): boolean {
    const next = this.waiters[0];
    if (next === undefined) return false;
    next.settle("granted");
    return true;
  }
}
