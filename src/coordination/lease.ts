import type { Logger } from "../logger.js";
import { CoordinationUnavailableError, LeaseLostError, type LeaseLossReason } from "./errors.js";

/** What a lease asks of the primitive that granted it; both are guarded by the holder's token. */
export interface LeaseStore {
  /** Extends the lease by its length if `token` still holds it; false when it does not. */
  renew(key: string, token: string): Promise<boolean>;
  /** Gives the lease up if `token` still holds it; someone else's lease is never touched. */
  release(key: string, token: string): Promise<void>;
}

export interface LeaseOptions {
  key: string;
  token: string;
  /** The lease's length on the server (already scaled). */
  leaseMs: number;
  /** performance.now() when the request that granted the lease was sent. */
  sentAt: number;
  store: LeaseStore;
  logger: Logger;
}

/**
 * Our clock and Redis's may run at slightly different rates; the holder stops trusting a lease this
 * share of its length before the server's expiry could possibly come.
 */
const CLOCK_RATE_ALLOWANCE = 0.01;

/**
 * A lease held in Redis: its holder renews it every third of its length, and it lapses on the server
 * when the holder stops (it died, froze, or lost Redis). The holder's view is conservative: a lease
 * counts as held only until one lease length after it *sent* the last request the server confirmed
 * (the server dated that request later, so its expiry is later still). A holder frozen past that point
 * therefore sees `isHeld()` false the moment it runs again, before any timer or answer arrives, and
 * its loss listeners run as soon as its timers do. A renewal the server refuses (the lease lapsed
 * and may be someone else's) ends it at once.
 */
export class Lease {
  readonly key: string;
  readonly token: string;
  private readonly leaseMs: number;
  private readonly store: LeaseStore;
  private readonly logger: Logger;
  private readonly ended = new AbortController();
  private readonly lossListeners: Array<(error: LeaseLostError) => void> = [];
  private validUntil: number;
  private lossError: LeaseLostError | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(options: LeaseOptions) {
    this.key = options.key;
    this.token = options.token;
    this.leaseMs = options.leaseMs;
    this.store = options.store;
    this.logger = options.logger;
    this.validUntil = this.validityFrom(options.sentAt);
    this.scheduleRenewal(this.leaseMs / 3);
    this.armExpiry();
  }

  /** Aborts when the lease ends, lost or released; when lost, its reason is the LeaseLostError. */
  get signal(): AbortSignal {
    return this.ended.signal;
  }

  /** True while the lease is certainly still this holder's. Check it right before acting on the lease. */
  isHeld(): boolean {
    return !this.ended.signal.aborted && performance.now() < this.validUntil;
  }

  /**
   * True while the lease is held with more than a third of its length still to run, as it always is
   * while renewals come on time. Start something that relies on the lease only then: a holder whose
   * renewal is overdue (it was starved, or Redis is slow) may be about to lose it.
   */
  hasMargin(): boolean {
    return this.isHeld() && this.validUntil - performance.now() > this.leaseMs / 3;
  }

  /** Throws LeaseLostError unless `isHeld()`. */
  assertHeld(): void {
    if (!this.isHeld()) throw this.lossError ?? new LeaseLostError(this.key, "expired");
  }

  /** Called once, when the lease is found lost (never after a release). */
  onLost(listener: (error: LeaseLostError) => void): void {
    if (this.lossError) listener(this.lossError);
    else this.lossListeners.push(listener);
  }

  /**
   * Gives the lease up; never throws. One Redis cannot confirm still ends here, and lapses on the
   * server within its length.
   */
  async release(): Promise<void> {
    if (this.ended.signal.aborted) return;
    this.stopTimers();
    this.ended.abort();
    try {
      await this.store.release(this.key, this.token);
    } catch (error) {
      const reason = error instanceof CoordinationUnavailableError ? error.reason : String(error);
      this.logger.warn({ key: this.key, reason }, "could not release a lease; it lapses on its own");
    }
  }

  private validityFrom(sentAt: number): number {
    return sentAt + this.leaseMs * (1 - CLOCK_RATE_ALLOWANCE);
  }

  private scheduleRenewal(inMs: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(0, inMs));
    this.renewTimer.unref();
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => this.checkExpiry(), Math.max(0, this.validUntil - performance.now()));
    this.expiryTimer.unref();
  }

  private checkExpiry(): void {
    if (this.ended.signal.aborted) return;
    if (performance.now() >= this.validUntil) this.lose("expired");
    else this.armExpiry();
  }

  private async renew(): Promise<void> {
    if (this.ended.signal.aborted) return;
    // A holder that was frozen finds its time run out before it asks: no renewal can revive it.
    if (performance.now() >= this.validUntil) {
      this.lose("expired");
      return;
    }
    const sentAt = performance.now();
    let renewed: boolean;
    try {
      renewed = await this.store.renew(this.key, this.token);
    } catch (error) {
      if (this.ended.signal.aborted) return;
      const reason = error instanceof CoordinationUnavailableError ? error.reason : String(error);
      this.logger.warn({ key: this.key, reason }, "could not renew a lease; trying again until it runs out");
      this.scheduleRenewal(Math.min(this.leaseMs / 6, this.validUntil - performance.now()));
      return;
    }
    if (this.ended.signal.aborted) return;
    if (!renewed) {
      this.lose("taken");
      return;
    }
    this.validUntil = this.validityFrom(sentAt);
    if (performance.now() >= this.validUntil) {
      this.lose("expired");
      return;
    }
    this.armExpiry();
    this.scheduleRenewal(this.leaseMs / 3);
  }

  private lose(reason: LeaseLossReason): void {
    if (this.ended.signal.aborted) return;
    this.stopTimers();
    this.lossError = new LeaseLostError(this.key, reason);
    this.ended.abort(this.lossError);
    this.logger.warn({ key: this.key, reason }, "a lease was lost; its holder stops acting on it");
    for (const listener of this.lossListeners.splice(0)) listener(this.lossError);
    // The server may still hold it under our token (it ran out here first): hand it back early.
    this.store.release(this.key, this.token).catch(() => undefined);
  }

  private stopTimers(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
  }
}
