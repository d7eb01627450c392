import { randomBytes } from "node:crypto";
import type { CoordinationRedis } from "./coordinationRedis.js";
import { Lease, type LeaseStore } from "./lease.js";
import { leaseSettings, type LeaseSettings, type LeaseSettingsOptions } from "./leaseSettings.js";
import { newLeaseToken, pollForLease, type AcquireOutcome, type LeaseWait } from "./leaseWait.js";
import { LuaScript, SERVER_NOW } from "./luaScript.js";

// KEYS: holders (zset token -> expiry), queue (zset token -> arrival number), waiting (zset token ->
// when the waiter is presumed dead unless it asks again), arrivals (counter), meta (hash: epoch,
// created, recover).
const EVICT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[2], gone)
  redis.call('ZREM', KEYS[3], gone)
end
`;

// Sets epoch and recover from the meta hash; needs known (the epoch this client last saw, '' if
// none), candidate (a fresh epoch) and leaseMs. A Redis that lost the semaphore (restart, FLUSHALL)
// lost its holders too, while their sessions go on: when a client that knew the earlier epoch finds
// it gone, grants wait one lease from the state's re-creation, and the live holders' renewals
// (every third of a lease) put their leases back meanwhile.
const META = `
local epoch = redis.call('HGET', KEYS[5], 'epoch')
local recover = tonumber(redis.call('HGET', KEYS[5], 'recover') or '0')
if not epoch then
  epoch = candidate
  recover = 0
  if known ~= '' then recover = now + leaseMs end
  redis.call('HSET', KEYS[5], 'epoch', epoch, 'created', now, 'recover', recover)
elseif known ~= '' and known ~= epoch then
  local since = tonumber(redis.call('HGET', KEYS[5], 'created') or '0') + leaseMs
  if since > recover then
    recover = since
    redis.call('HSET', KEYS[5], 'recover', recover)
  end
end
`;

// ARGV: token, capacity, leaseMs, waiterLivenessMs, stay in line (1) or not (0), known epoch, candidate epoch.
// A free slot goes to the first in line: a caller gets one only if fewer callers are ahead of it
// than slots are free, so one who has waited longer is never overtaken by a newcomer.
const ACQUIRE = new LuaScript(
  "semaphore-acquire",
  `${SERVER_NOW}${EVICT}
local known, candidate, leaseMs = ARGV[6], ARGV[7], tonumber(ARGV[3])
${META}
local token = ARGV[1]
local expiry = now + leaseMs
if redis.call('ZSCORE', KEYS[1], token) then
  redis.call('ZADD', KEYS[1], 'XX', expiry, token)
  return {1, 0, epoch}
end
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if now < recover then free = 0 end
local rank = redis.call('ZRANK', KEYS[2], token)
local ahead = rank or redis.call('ZCARD', KEYS[2])
if ahead < free then
  redis.call('ZADD', KEYS[1], expiry, token)
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  return {1, 0, epoch}
end
if ARGV[5] == '1' then
  if not rank then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token) end
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), token)
else
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
end
return {0, ahead + 1, epoch}`,
);

const LEAVE = new LuaScript(
  "semaphore-leave",
  `redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1`,
);

// ARGV: token, leaseMs, known epoch, candidate epoch. Only a lease not yet lapsed is extended; a
// lapsed one is gone for good. One Redis lost with the rest of the state is put back while grants
// wait (see META): its holder renewed it in time, so it had not lapsed.
const RENEW = new LuaScript(
  "semaphore-renew",
  `${SERVER_NOW}
local known, candidate, leaseMs = ARGV[3], ARGV[4], tonumber(ARGV[2])
${META}
local expiry = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if (expiry and expiry > now) or (not expiry and now < recover) then
  redis.call('ZADD', KEYS[1], now + leaseMs, ARGV[1])
  return {1, epoch}
end
redis.call('ZREM', KEYS[1], ARGV[1])
return {0, epoch}`,
);

const RELEASE = new LuaScript("semaphore-release", `return redis.call('ZREM', KEYS[1], ARGV[1])`);

// ARGV: token, leaseMs, known epoch, candidate epoch. Takes a slot whatever the count: see adopt().
const ADOPT = new LuaScript(
  "semaphore-adopt",
  `${SERVER_NOW}
local known, candidate, leaseMs = ARGV[3], ARGV[4], tonumber(ARGV[2])
${META}
redis.call('ZADD', KEYS[1], now + leaseMs, ARGV[1])
return epoch`,
);

const COUNTS = new LuaScript(
  "semaphore-counts",
  `${SERVER_NOW}${EVICT}
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}`,
);

export interface RedisSemaphoreOptions extends LeaseSettingsOptions {
  /** Names the semaphore; replicas sharing the name and prefix share its slots (e.g. "sessions"). */
  name: string;
  /** Slots (MDE_MAX_SESSIONS). Every replica must be given the same number. */
  capacity: number;
}

export interface SemaphoreWait extends LeaseWait {
  /** Called after each attempt that found no slot for this caller, with its place in line (1: next). */
  onQueued?: ((position: number) => void) | undefined;
}

export interface SemaphoreCounts {
  /** Leases not yet lapsed. */
  held: number;
  /** Callers in line, from every replica. */
  waiting: number;
  capacity: number;
}

/**
 * N slots shared by every replica (the live response session cap): each slot is a lease its holder
 * renews, so a dead replica's slots come free one lease length after it stopped. Callers wait in one
 * line across replicas in order of arrival; a caller that stops asking (it died, or gave up) leaves
 * the line within a lease length. A Redis that comes back without the semaphore does not reopen
 * its slots: once a replica that knew it finds it gone, grants wait one lease while the holders
 * still alive renew their leases back into it. (A replica that never saw the semaphore cannot tell
 * a lost one from a new one, and grants at once.)
 */
export class RedisSemaphore {
  readonly name: string;
  readonly capacity: number;
  private readonly settings: LeaseSettings;
  private readonly keys: string[];
  /** The state's epoch this replica last saw: how it tells a Redis that lost the semaphore. */
  private epoch = "";
  private readonly store: LeaseStore = {
    renew: async (_name, token) => {
      const [renewed, epoch] = (await this.redis.run(RENEW, this.keys, [
        token,
        this.settings.leaseMs,
        this.epoch,
        newEpoch(),
      ])) as [number, string];
      this.epoch = epoch;
      return renewed === 1;
    },
    release: async (_name, token) => {
      await this.redis.run(RELEASE, this.keys, [token]);
    },
  };

  constructor(
    private readonly redis: CoordinationRedis,
    options: RedisSemaphoreOptions,
  ) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`a semaphore needs a whole capacity from 1, got ${options.capacity}`);
    }
    this.name = options.name;
    this.capacity = options.capacity;
    this.settings = leaseSettings(options, "redis-semaphore");
    const base = `${this.settings.prefix}:sem:{${options.name}}`;
    this.keys = [`${base}:holders`, `${base}:queue`, `${base}:waiting`, `${base}:arrivals`, `${base}:meta`];
  }

  /**
   * Waits in line for a slot within `wait`. A caller whose wait ends without one leaves the line; an
   * error (Redis unavailable) ends the wait at once, and the line forgets the caller within a lease.
   */
  async acquire(wait: SemaphoreWait): Promise<AcquireOutcome> {
    const token = newLeaseToken();
    const attempt = async (): Promise<Lease | undefined> => {
      const sentAt = performance.now();
      const stay = wait.deadline > sentAt ? 1 : 0;
      const reply = await this.redis.run(ACQUIRE, this.keys, [
        token,
        this.capacity,
        this.settings.leaseMs,
        this.settings.leaseMs,
        stay,
        this.epoch,
        newEpoch(),
      ]);
      const [granted, position, epoch] = reply as [number, number, string];
      this.epoch = epoch;
      if (granted === 1) return this.lease(token, sentAt);
      wait.onQueued?.(position);
      return undefined;
    };
    try {
      const outcome = await pollForLease(attempt, wait, this.settings.pollMs);
      if (!outcome.granted) await this.leave(token);
      return outcome;
    } catch (error) {
      await this.leave(token);
      throw error;
    }
  }

  /**
   * Takes a slot at once, even past the capacity, for a session that exists whatever this count says
   * (an action a dead replica left in flight, adopted by a survivor): counting it keeps the others
   * from starting sessions the API would refuse.
   */
  async adopt(): Promise<Lease> {
    const token = newLeaseToken();
    const sentAt = performance.now();
    this.epoch = String(
      await this.redis.run(ADOPT, this.keys, [token, this.settings.leaseMs, this.epoch, newEpoch()]),
    );
    return this.lease(token, sentAt);
  }

  async counts(): Promise<SemaphoreCounts> {
    const [held, waiting] = (await this.redis.run(COUNTS, this.keys, [])) as [number, number];
    return { held, waiting, capacity: this.capacity };
  }

  private lease(token: string, sentAt: number): Lease {
    return new Lease({
      key: this.name,
      token,
      leaseMs: this.settings.leaseMs,
      sentAt,
      store: this.store,
      logger: this.settings.logger,
    });
  }

  private async leave(token: string): Promise<void> {
    await this.redis.run(LEAVE, this.keys, [token]).catch(() => undefined);
  }
}

function newEpoch(): string {
  return randomBytes(9).toString("base64url");
}
