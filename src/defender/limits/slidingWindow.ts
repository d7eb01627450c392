/**
 * A sliding-window log for a quota of `limit` calls in any `windowMs`: a call may start when fewer
 * than `limit` calls hold a place. Unlike a reservoir refilled every window, which lets 2 × limit
 * through around a refill, no window of any alignment ever sees more than `limit`.
 *
 * A call holds its place from the moment it starts until `windowMs + marginMs` after it settled (its
 * answer or failure came back). The server counts a call at some instant between our send and our
 * receipt of its answer; stamping the end of that interval keeps this log at least as late as the
 * server's, so no network latency can squeeze one call too many into the server's window. The margin
 * covers what the interval cannot: clocks that run at slightly different rates, and a request the
 * server reads after we gave up on it (an abort or a timeout while in flight).
 */
export class SlidingWindowLog {
  /** Settle instants of the calls still holding a place, oldest first. */
  private readonly settled: number[] = [];
  private inFlight = 0;
  /** Start instants within the last `windowMs`, for the metric. */
  private readonly recentStarts: number[] = [];
  private maxStarts = 0;
  private readonly holdMs: number;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly marginMs = 0,
  ) {
    if (!Number.isSafeInteger(limit) || limit < 1 || !(windowMs > 0) || !(marginMs >= 0)) {
      throw new RangeError(
        `a sliding window needs a whole limit from 1, a positive length and a margin from 0; got ${limit} per ${windowMs} ms + ${marginMs} ms`,
      );
    }
    this.holdMs = windowMs + marginMs;
  }

  /**
   * Milliseconds from `now` until one more call may start: 0 at once; Infinity while the window is
   * full of calls still in flight, whose places are only dated when they settle.
   */
  waitMs(now: number): number {
    this.evict(now);
    const excess = this.settled.length + this.inFlight - this.limit;
    if (excess < 0) return 0;
    const leaving = this.settled[excess];
    return leaving === undefined ? Infinity : leaving + this.holdMs - now;
  }

  /** A call starts now; the caller checked `waitMs` first. */
  start(now: number): void {
    this.inFlight += 1;
    const cutoff = now - this.windowMs;
    while ((this.recentStarts[0] ?? Infinity) <= cutoff) this.recentStarts.shift();
    this.recentStarts.push(now);
    this.maxStarts = Math.max(this.maxStarts, this.recentStarts.length);
  }

  /** A started call settled now: its place is dated from here. */
  settle(now: number): void {
    if (this.inFlight === 0) throw new RangeError("settle() without a call in flight");
    this.inFlight -= 1;
    // Kept in order even if a clock stood still or stepped back: a later stamp only holds longer.
    this.settled.push(Math.max(now, this.settled.at(-1) ?? now));
  }

  /** Calls holding a place at `now` (in flight or settled within the window and margin). */
  occupied(now: number): number {
    this.evict(now);
    return this.settled.length + this.inFlight;
  }

  /** The most calls that ever started within one `windowMs` (margin not included). */
  get maxStartedInAnyWindow(): number {
    return this.maxStarts;
  }

  private evict(now: number): void {
    const cutoff = now - this.holdMs;
    let gone = 0;
    while (gone < this.settled.length && (this.settled[gone] ?? Infinity) <= cutoff) gone++;
    if (gone > 0) this.settled.splice(0, gone);
  }
}
