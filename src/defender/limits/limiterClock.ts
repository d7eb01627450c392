/**
 * The limiters' only source of time, so tests can drive a window of minutes without waiting for it.
 * Window arithmetic needs a clock that never goes backwards; an NTP step of the wall clock must
 * neither release calls early nor hold them for the length of the step.
 */
export interface LimiterClock {
  /** Milliseconds on a monotonic clock (the system clock's are epoch-aligned at start). */
  now(): number;
  /**
   * Resolves after `ms`, or as soon as `signal` aborts, whichever comes first; never rejects.
   * `Infinity` waits for the signal alone.
   */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemLimiterClock: LimiterClock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      // setTimeout reads anything past 2^31 − 1 ms (Infinity too) as 1 ms; a longer wait wakes
      // early instead, and its caller measures again.
      const timer = Number.isFinite(ms)
        ? setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS))
        : undefined;
      signal.addEventListener("abort", done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  },
};
