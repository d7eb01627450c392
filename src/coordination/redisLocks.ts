import type { CoordinationRedis } from "./coordinationRedis.js";
import { Lease, type LeaseStore } from "./lease.js";
import { leaseSettings, type LeaseSettings, type LeaseSettingsOptions } from "./leaseSettings.js";
import { newLeaseToken, pollForLease, type AcquireOutcome, type LeaseWait } from "./leaseWait.js";
import { LuaScript } from "./luaScript.js";

const TAKE = new LuaScript(
  "lock-take",
  `return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0`,
);

// Renew and release compare the token first: a stale holder whose lease lapsed and went to someone
// else finds another token there and changes nothing.
const RENEW = new LuaScript(
  "lock-renew",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`,
);

const RELEASE = new LuaScript(
  "lock-release",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);

/**
 * Exclusive leases by name, shared by every replica: one live response action per device is a lock
 * on the device id. A lock is a key holding its holder's random token with an expiry, taken with
 * SET NX PX, and renewed and released by token in one script, so nobody but its holder can ever
 * extend or free it. A holder that dies stops renewing, and the lock is free one lease later.
 */
export class RedisLocks {
  private readonly settings: LeaseSettings;
  private readonly store: LeaseStore = {
    renew: async (key, token) =>
      (await this.redis.run(RENEW, [this.redisKey(key)], [token, this.settings.leaseMs])) === 1,
    release: async (key, token) => {
      await this.redis.run(RELEASE, [this.redisKey(key)], [token]);
    },
  };

  constructor(
    private readonly redis: CoordinationRedis,
    options: LeaseSettingsOptions = {},
  ) {
    this.settings = leaseSettings(options, "redis-locks");
  }

  get leaseMs(): number {
    return this.settings.leaseMs;
  }

  /** The lock on `key` if it is free now, else undefined. */
  async tryAcquire(key: string): Promise<Lease | undefined> {
    const token = newLeaseToken();
    const sentAt = performance.now();
    const taken = await this.redis.run(TAKE, [this.redisKey(key)], [token, this.settings.leaseMs]);
    if (taken !== 1) return undefined;
    return new Lease({
      key,
      token,
      leaseMs: this.settings.leaseMs,
      sentAt,
      store: this.store,
      logger: this.settings.logger,
    });
  }

  /** Waits for the lock on `key` within `wait`, asking again every poll interval. */
  acquire(key: string, wait: LeaseWait): Promise<AcquireOutcome> {
    return pollForLease(() => this.tryAcquire(key), wait, this.settings.pollMs);
  }

  private redisKey(key: string): string {
    return `${this.settings.prefix}:lock:${key}`;
  }
}
