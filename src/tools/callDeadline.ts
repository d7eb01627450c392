/**
 * One time bound for a whole tool call: `wait_seconds` counts from the call's start, across submits,
 * waiting and fetching results, so a client's request timeout is met whatever step is slow.
 */
export class CallDeadline {
  private readonly at: number;

  constructor(
    seconds: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.at = now() + seconds * 1000;
  }

  remainingMs(): number {
    return Math.max(0, this.at - this.now());
  }

  /** Aborts when the call is cancelled or the deadline passes, whichever comes first. */
  signal(callSignal: AbortSignal): AbortSignal {
    const ms = Math.ceil(this.remainingMs());
    return AbortSignal.any([callSignal, ms > 0 ? AbortSignal.timeout(ms) : AbortSignal.abort()]);
  }
}
