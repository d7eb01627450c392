import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationRedis, RedisSemaphore, type Lease } from "../../src/coordination/index.js";
import { createLogger } from "../../src/logger.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";

/** Two replicas' session caps (each with its own connection) sharing one Redis that restarts empty. */
const logger = createLogger({ level: "silent" });
const LEASE_MS = 900;

let server: RedisServer;
let connections: CoordinationRedis[];

beforeAll(async () => {
  server = await startRedisServer();
  connections = [0, 1].map(
    () => new CoordinationRedis({ url: server.url, commandTimeoutMs: 300, maxReconnectDelayMs: 50, logger }),
  );
  await Promise.all(connections.map((c) => c.ready(5_000)));
});
afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

describe("the shared session cap across a Redis restart", () => {
  it("does not reopen the slots of sessions still held: their holders renew them back before anyone else is granted", async () => {
    const [a, b] = connections.map(
      (redis) => new RedisSemaphore(redis, { name: "sessions", capacity: 2, leaseMs: LEASE_MS, logger }),
    ) as [RedisSemaphore, RedisSemaphore];
    const held: Lease[] = [];
    for (let i = 0; i < 2; i++) {
      const outcome = await a.acquire({ deadline: performance.now() + 1_000 });
      if (outcome.granted) held.push(outcome.lease);
    }
    expect(held).toHaveLength(2);
    // b has seen the semaphore (and its epoch) before the restart.
    expect((await b.acquire({ deadline: 0 })).granted).toBe(false);
    await server.stop();
    await server.start();
    await Promise.all(connections.map((c) => c.ready(5_000)));
    expect((await b.acquire({ deadline: 0 })).granted).toBe(false);
    // Two renewals' time: the holders are back in, and b still finds no slot.
    await sleep((LEASE_MS * 2) / 3);
    expect(held.every((lease) => lease.isHeld())).toBe(true);
    expect((await b.counts()).held).toBe(2);
    expect((await b.acquire({ deadline: 0 })).granted).toBe(false);
    await held[0]!.release();
    const after = await b.acquire({ deadline: performance.now() + 3 * LEASE_MS });
    expect(after.granted).toBe(true);
    if (after.granted) await after.lease.release();
    await held[1]!.release();
  });
});
