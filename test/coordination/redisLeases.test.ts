import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CoordinationRedis,
  LuaScript,
  RedisLocks,
  RedisSemaphore,
  type Lease,
  type LeaseLostError,
} from "../../src/coordination/index.js";
import { createLogger } from "../../src/logger.js";
import { ACT, ACTS_KEY } from "./workerProtocol.js";
import { startRedisServer, type RedisServer } from "./redisServer.js";
import { killWorker, startWorker, type WorkerProcess } from "./workerProcess.js";

// Leases of 30 s at a time scale of 50 are 600 ms, renewed every 200 ms.
const TIME_SCALE = 50;
const LEASE_MS = 30_000;
const logger = createLogger({ level: "silent" });

let server: RedisServer;
const connections: CoordinationRedis[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

async function connect(): Promise<CoordinationRedis> {
  const redis = new CoordinationRedis({ url: server.url, logger });
  connections.push(redis);
  await redis.ready(5_000);
  return redis;
}

async function semaphore(name: string, capacity: number): Promise<RedisSemaphore> {
  return new RedisSemaphore(await connect(), {
    name,
    capacity,
    leaseMs: LEASE_MS,
    timeScale: TIME_SCALE,
    logger,
  });
}

async function granted(outcome: Promise<{ granted: boolean; lease?: Lease }>): Promise<Lease> {
  const result = await outcome;
  if (!result.granted || !result.lease) throw new Error("expected a lease");
  return result.lease;
}

async function worker(config: Parameters<typeof startWorker>[0]): Promise<WorkerProcess> {
  const started = await startWorker(config);
  workers.push(started);
  return started;
}

/** Who acted, in the order Redis saw it. */
async function acts(): Promise<string[]> {
  return (await server.admin.lrange(ACTS_KEY, 0, -1)).map((entry) => entry.split(":")[0]!);
}

// Counts holders as Redis sees them: +1 right after a grant, -1 right before the release.
const ENTER = new LuaScript(
  "test-enter",
  `local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or 0) then redis.call('SET', KEYS[2], n) end
return n`,
);
const LEAVE = new LuaScript("test-leave", `return redis.call('DECR', KEYS[1])`);

describe("RedisSemaphore", () => {
  it("never has more holders than slots across replicas, and fills them all", async () => {
    const replicas = await Promise.all([0, 1, 2].map(() => semaphore("cap", 3)));
    const redis = await connect();
    const holder = async (replica: RedisSemaphore) => {
      const lease = await granted(replica.acquire({ deadline: Infinity }));
      await redis.run(ENTER, ["test:inside", "test:most"], []);
      await sleep(20 + Math.random() * 30);
      await redis.run(LEAVE, ["test:inside"], []);
      await lease.release();
    };
    await Promise.all(Array.from({ length: 18 }, (_, i) => holder(replicas[i % 3]!)));
    expect(Number(await server.admin.get("test:most"))).toBe(3);
    expect((await replicas[0]!.counts()).held).toBe(0);
  });

  it("gives a freed slot to the caller that has waited longest, never to a later one", async () => {
    const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => semaphore("fifo", 1)));
    const first = await granted(a!.acquire({ deadline: Infinity }));
    const grants: string[] = [];
    // Resolves once the caller stands in line, with its wait (wrapped: a promise would be adopted).
    const inLine = (name: string, replica: RedisSemaphore) =>
      new Promise<{ lease: Promise<Lease> }>((queued) => {
        const lease = granted(replica.acquire({ deadline: Infinity, onQueued: () => queued({ lease }) }));
        void lease.then(() => grants.push(name));
      });
    const second = (await inLine("b", b!)).lease;
    const third = (await inLine("c", c!)).lease;
    expect(await c!.counts()).toMatchObject({ held: 1, waiting: 2 });

    await first.release();
    // A newcomer asking the moment the slot is free finds two callers ahead of it.
    expect(await d!.acquire({ deadline: performance.now() })).toEqual({ granted: false, reason: "timeout" });
    const secondLease = await second;
    expect(grants).toEqual(["b"]);
    await secondLease.release();
    await (await third).release();
    expect(grants).toEqual(["b", "c"]);
    expect(await d!.counts()).toMatchObject({ held: 0, waiting: 0 });
  });

  it("a replica killed while holding a slot loses it one lease later; a waiting replica gets it", async () => {
    const holders = await Promise.all(
      [0, 1].map((i) =>
        worker({
          role: "semaphore",
          name: `holder-${i}`,
          url: server.url,
          semaphore: "kill",
          capacity: 2,
          leaseMs: 600,
        }),
      ),
    );
    await Promise.all(holders.map((h) => h.next((e) => e.event === "acquired")));
    const survivor = await semaphore("kill", 2);
    expect(await survivor.counts()).toMatchObject({ held: 2, capacity: 2 });
    let inLine: (position: number) => void = () => undefined;
    const queued = new Promise<number>((resolve) => (inLine = resolve));
    const waiting = survivor.acquire({ deadline: Infinity, onQueued: (p) => inLine(p) });
    expect(await queued).toBe(1);
    holders[0]!.signal("SIGKILL");
    const lease = await granted(waiting);
    expect(lease.isHeld()).toBe(true);
    expect(await survivor.counts()).toMatchObject({ held: 2 });
    await lease.release();
  });

  it("adopt takes a slot past the capacity for a session that exists anyway", async () => {
    const sessions = await semaphore("adopt", 1);
    const held = await granted(sessions.acquire({ deadline: Infinity }));
    const adopted = await sessions.adopt();
    expect(await sessions.counts()).toMatchObject({ held: 2, capacity: 1 });
    await held.release();
    expect(await sessions.acquire({ deadline: performance.now() + 100 })).toEqual({
      granted: false,
      reason: "timeout",
    });
    await adopted.release();
    expect(await sessions.counts()).toMatchObject({ held: 0, waiting: 0 });
  });

  it("a lease whose renewals stop coming loses its margin a third of a lease before it is lost", async () => {
    // 1.5 s here: the last third, held without margin, is 500 ms long.
    const sessions = new RedisSemaphore(await connect(), {
      name: "margin",
      capacity: 1,
      leaseMs: LEASE_MS,
      timeScale: 20,
      logger,
    });
    const lease = await granted(sessions.acquire({ deadline: Infinity }));
    expect(lease.hasMargin()).toBe(true);
    server.freeze();
    let heldWithoutMargin = false;
    try {
      while (lease.isHeld()) {
        if (!lease.hasMargin()) heldWithoutMargin = true;
        await sleep(10);
      }
    } finally {
      server.thaw();
    }
    expect(heldWithoutMargin).toBe(true);
    expect(lease.hasMargin()).toBe(false);
  });
});

describe("RedisLocks", () => {
  it("one holder per key; a release frees it for the next", async () => {
    const [a, b] = [
      new RedisLocks(await connect(), { leaseMs: LEASE_MS, timeScale: TIME_SCALE, logger }),
      new RedisLocks(await connect(), { leaseMs: LEASE_MS, timeScale: TIME_SCALE, logger }),
    ];
    const lease = await a.tryAcquire("device-a");
    expect(lease?.isHeld()).toBe(true);
    expect(await b.tryAcquire("device-a")).toBeUndefined();
    expect(await b.tryAcquire("device-b")).toBeDefined();
    const waiting = b.acquire("device-a", { deadline: Infinity });
    await sleep(100);
    await lease!.release();
    expect(lease!.isHeld()).toBe(false);
    expect((await waiting).granted).toBe(true);
  });

  it("a holder frozen past its lease learns it lost it, acts no more, and cannot free the new holder's lock", async () => {
    const frozen = await worker({
      role: "lock",
      name: "frozen",
      url: server.url,
      key: "device-1",
      leaseMs: 600,
    });
    await frozen.next((e) => e.event === "acquired");
    frozen.send("act");
    await frozen.next((e) => e.event === "acted");

    frozen.signal("SIGSTOP");
    const redis = await connect();
    const locks = new RedisLocks(redis, { leaseMs: 600, logger });
    const outcome = await locks.acquire("device-1", { deadline: Infinity });
    if (!outcome.granted) throw new Error("expected the lock");
    const { lease } = outcome;
    const lost: LeaseLostError[] = [];
    lease.onLost((error) => lost.push(error));
    expect(lease.isHeld()).toBe(true);
    await redis.run(ACT, [ACTS_KEY], ["survivor"]);

    const resumedAt = frozen.events.length;
    frozen.signal("SIGCONT");
    frozen.send("act");
    await frozen.next((e) => e.event === "refused-to-act", resumedAt);
    expect(await frozen.next((e) => e.event === "lost", resumedAt)).toMatchObject({ event: "lost" });

    // The stale holder's renewal and release found another token: the survivor's lock stands.
    await sleep(300);
    expect(await server.admin.get("mde:lock:device-1")).toBe(lease.token);
    expect(lease.isHeld()).toBe(true);
    expect(lost).toEqual([]);
    expect(await acts()).toEqual(["frozen", "survivor"]);
    await lease.release();
  });
});
