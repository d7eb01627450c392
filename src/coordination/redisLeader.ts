import type { Logger } from "../logger.js";
import type { CoordinationRedis } from "./coordinationRedis.js";
import type { Lease } from "./lease.js";
import { leaseSettings, type LeaseSettingsOptions } from "./leaseSettings.js";
import { RedisLocks } from "./redisLocks.js";

export interface RedisLeaderOptions extends LeaseSettingsOptions {
  /** What is led, one leader per key: e.g. the shared poller of one tenant, `poller:<tenant id>`. */
  key: string;
}

/**
 * One replica leads per key: the leader holds a lock lease and renews it; every other replica asks
 * for the lock every poll interval, so when the leader dies another takes over about one lease
 * length later (lease, plus one poll at most). Leadership is the lease: `isLeader()` is false the
 * moment the lease can no longer be trusted, so a leader that was frozen past its lease and runs
 * again sees it before it does anything as leader, and hears `onChange(false)` as soon as its timers run.
 */
export class RedisLeader {
  readonly key: string;
  private readonly locks: RedisLocks;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private readonly listeners: Array<(leading: boolean) => void> = [];
  private current: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(redis: CoordinationRedis, options: RedisLeaderOptions) {
    const settings = leaseSettings(options, "redis-leader");
    this.key = options.key;
    this.locks = new RedisLocks(redis, options);
    this.logger = settings.logger.child({ leaderKey: options.key });
    this.pollMs = settings.pollMs;
  }

  /** True while this replica certainly leads. Check it right before each thing done as leader. */
  isLeader(): boolean {
    return this.current?.isHeld() ?? false;
  }

  /** The lease of the leadership while held: its `signal` aborts when leadership ends. */
  get lease(): Lease | undefined {
    return this.isLeader() ? this.current : undefined;
  }

  /** Called with true when this replica becomes leader, false when it stops being one. */
  onChange(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Starts campaigning (at once, then every poll interval while not leading). */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.campaign();
  }

  /** Stops campaigning and hands leadership over, if held. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    const lease = this.current;
    this.current = undefined;
    if (lease?.isHeld()) {
      await lease.release();
      this.announce(false);
    }
  }

  private async campaign(): Promise<void> {
    if (!this.running) return;
    if (this.current === undefined) {
      try {
        const lease = await this.locks.tryAcquire(`leader:${this.key}`);
        if (lease && this.running) this.elected(lease);
        else await lease?.release();
      } catch (error) {
        this.logger.warn({ err: { message: (error as Error).message } }, "could not campaign for leadership");
      }
    }
    if (!this.running) return;
    this.timer = setTimeout(() => void this.campaign(), this.pollMs);
    this.timer.unref();
  }

  private elected(lease: Lease): void {
    this.current = lease;
    lease.onLost(() => {
      if (this.current !== lease) return;
      this.current = undefined;
      this.announce(false);
    });
    this.logger.info("leading");
    this.announce(true);
  }

  private announce(leading: boolean): void {
    for (const listener of this.listeners) listener(leading);
  }
}
