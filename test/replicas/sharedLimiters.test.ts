import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationRedis } from "../../src/coordination/index.js";
import { ApiLimiters } from "../../src/defender/limits/apiLimiters.js";
import { AdmissionCancelledError } from "../../src/defender/limits/rateLimiter.js";
import { createLogger } from "../../src/logger.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";

/** Two replicas' limiters in one process (each with its own connection), sharing one Redis. */
const logger = createLogger({ level: "silent" });
const TIME_SCALE = 600;

let server: RedisServer;
let connections: CoordinationRedis[];
let replicas: ApiLimiters[];

beforeAll(async () => {
  server = await startRedisServer();
  connections = [0, 1].map(
    () => new CoordinationRedis({ url: server.url, commandTimeoutMs: 300, maxReconnectDelayMs: 100, logger }),
  );
  await Promise.all(connections.map((c) => c.ready(5_000)));
  replicas = connections.map(
    (redis) =>
      new ApiLimiters({
        timeScale: TIME_SCALE,
        logger,
        shared: { redis, maxCallMs: 1_000, prefix: "limiters" },
      }),
  );
});
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(25);
  expect(condition()).toBe(true);
}

describe("API limiters sharing their budgets through Redis", () => {
  it("a 429 met by one replica holds the other's calls: nothing is sent until the shared gate opens", async () => {
    const [a, b] = replicas as [ApiLimiters, ApiLimiters];
    expect(await a.submit.run(async () => "sent")).toBe("sent");
    await a.submit.run(async () => a.submit.pause(60_000));
    expect((await b.sharedWindows!.usage("submit")).gateClosedForMs).toBeGreaterThan(0);
    let sent = false;
    const held = b.submit.run(async () => (sent = true), { signal: AbortSignal.timeout(500) });
    await expect(held).rejects.toBeInstanceOf(AdmissionCancelledError);
    expect(sent).toBe(false);
    // Reads are another budget: the submit gate does not hold them.
    expect(await b.reads.run(async () => "read")).toBe("read");
  });

  it("while Redis is down no call is admitted and the snapshot says why; calls resume by themselves when it is back", async () => {
    const [, b] = replicas as [ApiLimiters, ApiLimiters];
    expect(b.reads.snapshot().shared).toEqual({ unavailable: null });
    await server.stop();
    let sent = false;
    const waiting = b.reads.run(async () => (sent = true));
    await until(() => b.reads.snapshot().shared?.unavailable != null);
    expect(b.reads.snapshot().shared?.unavailable).toMatch(
      /shared coordination store \(Redis\) is unreachable/,
    );
    expect(sent).toBe(false);
    await server.start();
    await waiting;
    expect(sent).toBe(true);
    expect(b.reads.snapshot().shared).toEqual({ unavailable: null });
  });
});
