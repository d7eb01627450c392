/**
 * What a limiter does after the API answered 429: a 429 on a shared budget means the whole budget is
 * spent, so the gate holds every call of the limiter until the server's Retry-After has passed, then
 * lets exactly one call through (the probe) and holds the rest until that call has its answer. A
 * probe answered with another 429 closes the gate again; any other answer opens it. So the server
 * sees at most one call per Retry-After period, instead of every queued call finding out for itself.
 */
export interface Probe {
  /** The closures counted when the probe went out: a later one means it (or another call) met a 429. */
  readonly closuresAtStart: number;
}

export class ThrottleGate {
  private closedUntil = -Infinity;
  private probeNeeded = false;
  private probing = false;
  private closures = 0;

  /** A 429 arrived at `now`: hold every call for `forMs` (extending, never shortening, a pause in force). */
  close(now: number, forMs: number): void {
    this.closedUntil = Math.max(this.closedUntil, now + Math.max(0, forMs));
    this.probeNeeded = true;
    this.closures += 1;
  }

  /** Milliseconds from `now` until a call may pass: Infinity while the probe is out. */
  waitMs(now: number): number {
    if (this.probing) return Infinity;
    return Math.max(0, this.closedUntil - now);
  }

  /** A call passes (the caller checked `waitMs`); it is the probe when a 429 came since the last success. */
  pass(): Probe | undefined {
    if (!this.probeNeeded) return undefined;
    this.probing = true;
    return { closuresAtStart: this.closures };
  }

  /** The probe has its answer; unless a 429 closed the gate meanwhile, the gate is open again. */
  probeSettled(probe: Probe): void {
    this.probing = false;
    if (this.closures === probe.closuresAtStart) this.probeNeeded = false;
  }

  /** When the pause in force ends, or null when none is. */
  closedUntilAt(now: number): number | null {
    return this.closedUntil > now ? this.closedUntil : null;
  }

  get probeInFlight(): boolean {
    return this.probing;
  }
}
