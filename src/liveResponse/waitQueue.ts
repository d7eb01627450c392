/** How long a caller may wait for its turn: a point on `performance.now()`'s clock (Infinity: no end), and its cancel. */
export interface WaitLimits {
  deadline: number;
  signal?: AbortSignal | undefined;
  /** Names this caller in the line, so `positionOf` can tell where it stands. */
  ticket?: object | undefined;
  /** Called when the caller takes its place in the line (not when its turn came at once). */
  onQueued?: (() => void) | undefined;
}

export type WaitEnd = "granted" | "timeout" | "aborted";

interface Waiter {
  ticket: object | undefined;
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

  /** Where the caller holding `ticket` stands (1: next), or undefined when it is not waiting here. */
  positionOf(ticket: object): number | undefined {
    const at = this.waiters.findIndex((w) => w.ticket === ticket);
    return at === -1 ? undefined : at + 1;
  }

  /** Resolves "granted" once `grantNext()` picks this caller; "timeout" or "aborted" otherwise. */
  wait(limits: WaitLimits): Promise<WaitEnd> {
    const { signal } = limits;
    if (signal?.aborted) return Promise.resolve("aborted");
    const remaining = limits.deadline - performance.now();
    if (remaining <= 0) return Promise.resolve("timeout");
    return new Promise<WaitEnd>((resolve) => {
      const waiter: Waiter = {
        ticket: limits.ticket,
        settle: (end) => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          resolve(end);
        },
      };
      const onAbort = () => waiter.settle("aborted");
      // setTimeout cannot take Infinity (it would fire at once): a wait without end has no timer.
      const timer = Number.isFinite(remaining)
        ? setTimeout(() => waiter.settle("timeout"), remaining)
        : undefined;
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      limits.onQueued?.();
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
