import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CoordinationRedis,
  CoordinationUnavailableError,
  RedisLocks,
  RedisSemaphore,
  RedisWindows,
  type LeaseLostError,
} from "../../src/coordination/index.js";
import { createLogger } from "../../src/logger.js";
import { startRedisServer, type RedisServer } from "./redisServer.js";

const logger = createLogger({ level: "silent" });

let server: RedisServer;
let redis: CoordinationRedis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new CoordinationRedis({ url: server.url, commandTimeoutMs: 300, maxReconnectDelayMs: 100, logger });
  await redis.ready(5_000);
});
afterAll(async () => {
  await redis.close();
  await server.close();
});

const windows = () =>
  new RedisWindows(redis, { budgets: { submit: [{ limit: 10, windowMs: 1_000 }] }, marginMs: 10, logger });

async function grantedAfterRecovery(w: RedisWindows, callId: string): Promise<void> {
  for (;;) {
    const decision = await w.tryAcquire("submit", callId);
    if (decision.granted) return;
    await sleep(decision.retryInMs);
  }
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await sleep(25);
  }
  throw new Error("condition not met in 5 s");
}

function expectUnavailable(error: unknown, reason: CoordinationUnavailableError["reason"]): void {
  expect(error).toBeInstanceOf(CoordinationUnavailableError);
  expect(error).toMatchObject({ code: "COORDINATION_UNAVAILABLE", reason });
}

describe("Redis unreachable", () => {
  it("every operation fails with COORDINATION_UNAVAILABLE while Redis is down, held leases run out, and all recovers when it is back", async () => {
    const w = windows();
    const locks = new RedisLocks(redis, { leaseMs: 600, logger });
    const sessions = new RedisSemaphore(redis, { name: "sessions", capacity: 2, leaseMs: 600, logger });
    await grantedAfterRecovery(w, "before");
    const lease = await locks.tryAcquire("device-1");
    const lost = new Promise<LeaseLostError>((resolve) => lease!.onLost(resolve));
    expect(await redis.health()).toMatchObject({ available: true });

    await server.stop();
    // Each rejects while Redis is still down (it is only started again below), so none of them hangs.
    for (const operation of [
      () => w.tryAcquire("submit", "down"),
      () => w.usage("submit"),
      () => locks.tryAcquire("device-2"),
      () => sessions.acquire({ deadline: Infinity }),
      () => sessions.counts(),
    ]) {
      expectUnavailable(await operation().catch((e: unknown) => e), "disconnected");
    }
    expect(await w.settle("submit", "before")).toBe(false);
    expect(await w.record429("submit", 100)).toBe(false);
    expect(await redis.health()).toMatchObject({ available: false, reason: "disconnected" });
    expect(await lost).toMatchObject({ code: "LEASE_LOST", reason: "expired" });
    expect(lease!.isHeld()).toBe(false);

    await server.start();
    await until(async () => (await redis.health()).available);
    // The restarted Redis is empty and has forgotten the scripts: they are sent again, the window recovers.
    await grantedAfterRecovery(w, "after");
    expect(await locks.tryAcquire("device-1")).toBeDefined();
    expect((await sessions.acquire({ deadline: Infinity })).granted).toBe(true);
    w.close();
  });

  it("a frozen Redis fails calls after the command timeout instead of hanging them, and they work when it thaws", async () => {
    const w = windows();
    await grantedAfterRecovery(w, "warm");
    server.freeze();
    try {
      expectUnavailable(await w.tryAcquire("submit", "frozen").catch((e: unknown) => e), "timeout");
      expect(await redis.health()).toMatchObject({ available: false, reason: "timeout" });
    } finally {
      server.thaw();
    }
    await until(async () => (await redis.health()).available);
    expect((await w.tryAcquire("submit", "thawed")).granted).toBe(true);
    w.close();
  });

  it("ready() gives up with COORDINATION_UNAVAILABLE when Redis cannot be reached", async () => {
    const { port } = server;
    await server.stop();
    const unreachable = new CoordinationRedis({ url: `redis://127.0.0.1:${port}`, logger });
    try {
      expectUnavailable(await unreachable.ready(200).catch((e: unknown) => e), "disconnected");
    } finally {
      await unreachable.close();
      await server.start();
    }
  });
});
