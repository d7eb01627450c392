import { scaleMs } from "../config/time.js";
import { MachineActionSchema, isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { SharedPolling, SharedState } from "../liveResponse/sharedPolling.js";
import type { CoordinationRedis } from "./coordinationRedis.js";
import { leaseSettings, type LeaseSettingsOptions } from "./leaseSettings.js";
import { LuaScript, SERVER_NOW } from "./luaScript.js";
import { RedisLeader } from "./redisLeader.js";
import { REQUEST_RECORD_TTL_MS } from "./redisRequestRegistry.js";

// KEYS: wanted (zset id -> wanted until), followed (zset id -> followed until).
// ARGV: wantedMs, followedMs, count of wanted ids, the wanted ids, then the followed ids.
const WANT = new LuaScript(
  "poller-want",
  `${SERVER_NOW}
local count = tonumber(ARGV[3])
for i = 4, 3 + count do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
for i = 4 + count, #ARGV do redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i]) end
return 1`,
);

const WANTED = new LuaScript(
  "poller-wanted",
  `${SERVER_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return {redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('ZCARD', KEYS[2])}`,
);

// KEYS: wanted, followed. ARGV: state key prefix, ttlMs, finalTtlMs, then triples (id, json, final
// 1/0), then '--' and the ids the API no longer knows. A state is stored as "<read at>|<json>", dated
// on the server's clock so any replica can tell its age whatever its own clock says.
const PUBLISH = new LuaScript(
  "poller-publish",
  `${SERVER_NOW}
local i = 4
while i <= #ARGV and ARGV[i] ~= '--' do
  local id, final = ARGV[i], ARGV[i + 2] == '1'
  redis.call('SET', ARGV[1] .. id, now .. '|' .. ARGV[i + 1], 'PX', final and ARGV[3] or ARGV[2])
  if final then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
  i = i + 3
end
for j = i + 1, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[j])
  redis.call('ZREM', KEYS[2], ARGV[j])
end
return 1`,
);

// ARGV: state key prefix, then ids. Returns pairs of age in ms and json (an empty age: not cached).
const READ = new LuaScript(
  "poller-read",
  `${SERVER_NOW}
local out = {}
for i = 2, #ARGV do
  local value = redis.call('GET', ARGV[1] .. ARGV[i])
  if value then
    local bar = string.find(value, '|', 1, true)
    table.insert(out, tostring(now - tonumber(string.sub(value, 1, bar - 1))))
    table.insert(out, string.sub(value, bar + 1))
  else
    table.insert(out, '')
    table.insert(out, '')
  end
end
return out`,
);

export interface RedisPollingOptions extends LeaseSettingsOptions {
  /** The tenant whose actions are polled: one leader per tenant. */
  tenantId: string;
  /** The poll interval (real ms): how long a "someone waits" mark lasts, twice over. */
  intervalMs: number;
  /** The idle poll interval (real ms): how long a wanted action lasts unless wanted again, three times over. */
  idleIntervalMs: number;
}

/**
 * The shared poller of one tenant in Redis: the leader lease `poller:<tenant id>` (RedisLeader), the
 * actions every replica wants read (a sorted set, each entry lapsing unless wanted again, so a dead
 * replica's actions stop being read), the actions a caller waits on, and the states the leader read
 * (kept an idle interval's worth of rounds; final ones as long as a request's record).
 */
export class RedisPolling implements SharedPolling {
  private readonly leader: RedisLeader;
  private readonly keys: { wanted: string; followed: string; state: string };
  private readonly wantedMs: number;
  private readonly followedMs: number;
  private readonly stateTtlMs: number;
  private readonly finalTtlMs: number;

  constructor(
    private readonly redis: CoordinationRedis,
    options: RedisPollingOptions,
  ) {
    const { prefix } = leaseSettings(options, "poller-leader");
    const timeScale = options.timeScale ?? 1;
    const base = `${prefix}:poller:${options.tenantId}`;
    this.keys = { wanted: `${base}:wanted`, followed: `${base}:followed`, state: `${base}:state:` };
    this.leader = new RedisLeader(redis, { ...options, key: `poller:${options.tenantId}` });
    this.wantedMs = Math.ceil(scaleMs(3 * options.idleIntervalMs, timeScale));
    this.followedMs = Math.ceil(scaleMs(2 * options.intervalMs, timeScale));
    this.stateTtlMs = Math.ceil(scaleMs(3 * options.idleIntervalMs, timeScale));
    this.finalTtlMs = Math.ceil(scaleMs(REQUEST_RECORD_TTL_MS, timeScale));
  }

  /** Starts campaigning for the leader lease. */
  start(): void {
    this.leader.start();
  }

  /** Hands the lease over, if held. */
  stop(): Promise<void> {
    return this.leader.stop();
  }

  isLeader(): boolean {
    return this.leader.isLeader();
  }

  onLeadership(listener: (leading: boolean) => void): void {
    this.leader.onChange(listener);
  }

  async want(ids: readonly string[], followed: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.run(
      WANT,
      [this.keys.wanted, this.keys.followed],
      [this.wantedMs, this.followedMs, ids.length, ...ids.map(key), ...followed.map(key)],
    );
  }

  async wanted(): Promise<{ ids: string[]; followed: boolean }> {
    const [ids, followed] = (await this.redis.run(WANTED, [this.keys.wanted, this.keys.followed], [])) as [
      string[],
      number,
    ];
    return { ids, followed: followed > 0 };
  }

  async publish(actions: readonly MachineAction[], gone: readonly string[]): Promise<void> {
    if (actions.length === 0 && gone.length === 0) return;
    const states = actions.flatMap((a) => [
      key(a.id),
      JSON.stringify(a),
      isFinalActionStatus(a.status) ? "1" : "0",
    ]);
    await this.redis.run(
      PUBLISH,
      [this.keys.wanted, this.keys.followed],
      [this.keys.state, this.stateTtlMs, this.finalTtlMs, ...states, "--", ...gone.map(key)],
    );
  }

  async read(ids: readonly string[]): Promise<SharedState[]> {
    if (ids.length === 0) return [];
    const reply = (await this.redis.run(READ, [], [this.keys.state, ...ids.map(key)])) as string[];
    const states: SharedState[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      if (reply[i] === "") continue;
      const parsed = MachineActionSchema.safeParse(JSON.parse(reply[i + 1]!));
      if (parsed.success) states.push({ action: parsed.data, ageMs: Number(reply[i]) });
    }
    return states;
  }
}

/** Action ids are GUIDs the API spells in either case. */
function key(actionId: string): string {
  return actionId.toLowerCase();
}
