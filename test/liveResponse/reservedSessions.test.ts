import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CoordinationRedis, RedisSemaphore, type Lease } from "../../src/coordination/index.js";
import { ActionPoller } from "../../src/liveResponse/actionPoller.js";
import { SessionTracker, type Reservation } from "../../src/liveResponse/sessionTracker.js";
import { quietLogger, startClientFixture, type ClientFixture } from "../defender/clientFixture.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";
import { until } from "../helpers/until.js";

/**
 * One replica's session slots in a shared cap of 3 (a real Redis), with another replica taking the
 * rest. A reservation's lease is lost the way a frozen replica loses it: Redis no longer has it when
 * the holder renews. Leases of 30 s last 1 s here.
 */
const LEASES = { leaseMs: 30_000, timeScale: 30, logger: quietLogger };
const HOLDERS = "mde:sem:{sessions}:holders";
const LINE = "mde:sem:{sessions}:queue";

let fx: ClientFixture;
let redis: RedisServer;
let connections: CoordinationRedis[];
let poller: ActionPoller;
let tracker: SessionTracker;
/** The other replica's view of the same cap. */
let other: RedisSemaphore;
let otherLeases: Lease[];

const semaphore = (connection: CoordinationRedis) =>
  new RedisSemaphore(connection, { name: "sessions", capacity: 3, ...LEASES });

beforeAll(async () => {
  fx = await startClientFixture();
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
  await fx?.close();
});
beforeEach(async () => {
  await redis.admin.flushall();
  connections = [0, 1].map(
    () => new CoordinationRedis({ url: redis.url, commandTimeoutMs: 300, logger: quietLogger }),
  );
  await Promise.all(connections.map((c) => c.ready(5_000)));
  poller = new ActionPoller({
    client: fx.client(),
    intervalMs: 100,
    idleIntervalMs: 1_000,
    budgets: [{ calls: 50, windowMs: 600 }],
    logger: quietLogger,
  });
  tracker = new SessionTracker({
    poller,
    maxSessions: 3,
    shared: semaphore(connections[0]!),
    logger: quietLogger,
  });
  other = semaphore(connections[1]!);
  otherLeases = [];
});
afterEach(async () => {
  poller.close();
  await Promise.all(otherLeases.map((l) => l.release()));
  await Promise.all(connections.map((c) => c.close()));
});

async function reserve(): Promise<Reservation> {
  const slot = await tracker.reserve({ deadline: performance.now() + 2_000 });
  if (typeof slot === "string") throw new Error(`no slot: ${slot}`);
  return slot;
}

/** The other replica takes a slot, waiting in line for it. */
async function otherTakesSlot(): Promise<void> {
  const outcome = await other.acquire({ deadline: performance.now() + 5_000 });
  if (!outcome.granted) throw new Error(`the other replica got no slot: ${outcome.reason}`);
  otherLeases.push(outcome.lease);
}

/**
 * One of this replica's reservation leases vanishes from Redis (it lapsed while the replica was frozen),
 * and the other replica, already in line, takes the slot before this one asks for it again.
 */
async function loseOneReservedLease(): Promise<void> {
  const tokens = new Set(otherLeases.map((l) => l.token));
  const mine = (await redis.admin.zrange(HOLDERS, "0", "-1")).filter((t) => !tokens.has(t));
  const waiting = otherTakesSlot();
  await redis.admin.zrem(HOLDERS, mine[0]!);
  await waiting;
  // This replica found out at its renewal, and asks for a slot again in line.
  await untilCount(LINE, 1);
}

/** Waits until the sorted set `key` has `count` members. */
async function untilCount(key: string, count: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await redis.admin.zcard(key)) === count) return;
    await sleep(10);
  }
  throw new Error(`${key} never had ${count} members`);
}

describe("reserved session slots shared with other replicas", () => {
  it("are alike: one live lease lets a submit go while another reservation's lease is taken again in line", async () => {
    const [first, second] = [await reserve(), await reserve()];
    await otherTakesSlot();
    await loseOneReservedLease();
    // Its replacement waits in line behind a full cap; the live lease still serves one submit.
    expect(await redis.admin.zcard(HOLDERS)).toBe(3);
    expect(first.readyToSend()).toBe(true);
    expect(second.readyToSend()).toBe(false);
    expect(first.readyToSend()).toBe(true);
    // The other replica gives a slot back: the replacement takes it, and the second may go too.
    await otherLeases.shift()!.release();
    await until(() => second.readyToSend());
    expect(first.readyToSend()).toBe(true);
    tracker.unreserve(first);
    tracker.unreserve(second);
    await untilCount(HOLDERS, 1);
  });

  it("a submit let go is no longer ready once the lease it counted on lapses, until a slot is live again", async () => {
    const first = await reserve();
    await otherTakesSlot();
    await otherTakesSlot();
    expect(first.readyToSend()).toBe(true);
    await loseOneReservedLease();
    await until(() => !first.readyToSend());
    await otherLeases.shift()!.release();
    await until(() => first.readyToSend());
    tracker.unreserve(first);
  });

  it("a submit that creates no action gives back a lapsed lease first, so the live one serves the submit left", async () => {
    const [first, second] = [await reserve(), await reserve()];
    await otherTakesSlot();
    await loseOneReservedLease();
    expect(second.readyToSend()).toBe(true);
    expect(first.readyToSend()).toBe(false);
    tracker.unreserve(second);
    // The live lease is left, and the replacement still in line is not needed any more.
    expect(first.readyToSend()).toBe(true);
    expect(tracker.counts().inUse).toBe(1);
    tracker.unreserve(first);
  });
});
