/**
 * The places one replica took in one budget's shared log, dated as the log dates them (Redis server
 * ms), kept for as long as they count. When Redis comes back without the log, every live replica puts
 * its own places back, so the log is whole again but for those of replicas that died meanwhile.
 */
export class WindowJournal {
  /** member -> score, in the order the places were taken. */
  private readonly places = new Map<string, number>();
  private gateClosedUntil = 0;

  /** `keepMs`: the budget's longest window plus margin. */
  constructor(private readonly keepMs: number) {}

  /** A place was taken, or its date moved (its call settled); `now` is the server's clock. */
  record(member: string, score: number, now: number): void {
    this.places.set(member, score);
    this.prune(now);
  }

  /** This replica learnt that the budget's gate is closed until `until` (server ms). */
  gateClosed(until: number): void {
    this.gateClosedUntil = Math.max(this.gateClosedUntil, until);
  }

  /** When the gate is closed until as far as this replica knows (server ms; 0 if never). */
  get closedUntil(): number {
    return this.gateClosedUntil;
  }

  /** The places kept, as (score, member) pairs; some may no longer count (the reader filters by its clock). */
  entries(): Array<[number, string]> {
    return [...this.places].map(([member, score]) => [score, member]);
  }

  get size(): number {
    return this.places.size;
  }

  /**
   * Forgets places that no longer count at `now` (server ms), from the oldest on: places are taken
   * in time order, so the first one still counting ends the sweep.
   */
  prune(now: number): void {
    const cutoff = now - this.keepMs;
    for (const [member, score] of this.places) {
      if (score > cutoff) break;
      this.places.delete(member);
    }
  }
}
