/**
 * A true sliding window: a log of the instants calls were admitted. A call is admitted when fewer
 * than `limit` admissions lie in the `windowMs` before it. Unlike a fixed-minute reservoir, this never
 * lets 2×limit calls through around a window boundary, which is the strictest reading of "10 calls
 * per minute" and so the one a client must survive.
 */
export class SlidingWindow {
  private readonly admitted: number[] = [];

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    if (!(limit > 0) || !(windowMs > 0)) {
      throw new RangeError(
        `a sliding window needs a positive limit and length, got ${limit} per ${windowMs} ms`,
      );
    }
  }

  /** Milliseconds until one more call would be admitted; 0 when it would be admitted at `now`. */
  waitMs(now: number): number {
    this.evict(now);
    if (this.admitted.length < this.limit) return 0;
    const blocking = this.admitted[this.admitted.length - this.limit] ?? now;
    return blocking + this.windowMs - now;
  }

  /** Records an admission; callers check `waitMs` first so rejected calls never enter the log. */
  record(now: number): void {
    this.admitted.push(now);
  }

  /** Admissions inside the window that ends at `now`. */
  count(now: number): number {
    this.evict(now);
    return this.admitted.length;
  }

  clear(): void {
    this.admitted.length = 0;
  }

  private evict(now: number): void {
    const cutoff = now - this.windowMs;
    let stale = 0;
    while (stale < this.admitted.length && (this.admitted[stale] ?? Infinity) <= cutoff) stale++;
    if (stale > 0) this.admitted.splice(0, stale);
  }
}
