/**
 * The simulator's only source of time. The engine has no timers: it reads the clock on every call and
 * derives every transition from stored timestamps, so a settable clock makes tests deterministic.
 */
export interface SimClock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: SimClock = { now: () => Date.now() };

/** A clock that moves only when told to: for tests and for replaying a scenario step by step. */
export class ManualClock implements SimClock {
  private current: number;

  constructor(startMs = Date.UTC(2026, 0, 15, 9, 0, 0)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError("a clock does not go backwards");
    this.current += ms;
  }

  advanceSeconds(seconds: number): void {
    this.advance(seconds * 1000);
  }
}
