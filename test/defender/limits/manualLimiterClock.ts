import type { LimiterClock } from "../../../src/defender/limits/limiterClock.js";

/**
 * A limiter clock that moves only when a test says so. It also shows who sleeps until when, which
 * lets a test see that a limiter has settled into waiting (and for what) before it asserts that
 * nothing more was admitted.
 */
export class ManualLimiterClock implements LimiterClock {
  private current = 0;
  private readonly sleepers = new Set<{ at: number; wake: () => void }>();

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const sleeper = {
        at: this.current + ms,
        wake: () => {
          this.sleepers.delete(sleeper);
          signal.removeEventListener("abort", sleeper.wake);
          resolve();
        },
      };
      this.sleepers.add(sleeper);
      signal.addEventListener("abort", sleeper.wake, { once: true });
    });
  }

  /** The wake-up instants of everyone sleeping now (Infinity: sleeping until woken by an event). */
  wakeTimes(): number[] {
    return [...this.sleepers].map((s) => s.at).sort((a, b) => a - b);
  }

  /** Moves to `at`, waking the sleepers due on the way in order, each at its own instant. */
  async advanceTo(at: number): Promise<void> {
    if (at < this.current) throw new RangeError("the clock does not go backwards");
    for (;;) {
      const due = [...this.sleepers].filter((s) => s.at <= at).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.current = Math.max(this.current, due.at);
      due.wake();
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.current = at;
  }
}
