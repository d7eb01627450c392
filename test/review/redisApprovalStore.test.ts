import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationRedis } from "../../src/coordination/coordinationRedis.js";
import { createLogger } from "../../src/logger.js";
import { RedisApprovalStore } from "../../src/review/redisApprovalStore.js";
import { openApprovalStore } from "../../src/review/openApprovalStore.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";
import { approvalRequest, describeApprovalStore } from "./approvalStoreSuite.js";

const logger = createLogger({ level: "silent" });

let server: RedisServer;
/** One coordination connection per replica. */
const connections: CoordinationRedis[] = [];
const stores: RedisApprovalStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

/** A replica's store: its own connections to the shared Redis, under the tenant's key prefix. */
async function replica(
  prefix: string,
  clock: { now?: () => number; timeScale?: number } = {},
): Promise<RedisApprovalStore> {
  const redis = new CoordinationRedis({ url: server.url, logger });
  connections.push(redis);
  await redis.ready(5_000);
  const store = await RedisApprovalStore.open({ redis, url: server.url, prefix, logger, ...clock });
  stores.push(store);
  return store;
}

const freshPrefix = () => `test-${randomBytes(4).toString("hex")}`;

describeApprovalStore("RedisApprovalStore", (clock) => replica(freshPrefix(), clock));

describe("RedisApprovalStore across replicas", () => {
  it("shows every replica the same approvals, newest first", async () => {
    const prefix = freshPrefix();
    // One clock for both replicas, a second apart: two adds in the same millisecond have no order.
    let now = Date.now();
    const clock = { now: () => now };
    const [a, b] = [await replica(prefix, clock), await replica(prefix, clock)];
    const first = await a.add(approvalRequest("agent-a"), 60);
    now += 1_000;
    const second = await b.add(approvalRequest("agent-b"), 60);
    const ids = [second.id, first.id];
    expect((await a.list()).map((x) => x.id)).toEqual(ids);
    expect((await b.list()).map((x) => x.id)).toEqual(ids);
    expect(await b.get(first.id)).toEqual(first);
  });

  it("wakes a call waiting on one replica when a reviewer decides on another, and tells its listeners", async () => {
    const prefix = freshPrefix();
    const [a, b] = [await replica(prefix), await replica(prefix)];
    const heard: string[] = [];
    a.onChange((x) => heard.push(x.status));
    const pending = await a.add(approvalRequest("agent-a"), 60);
    const waiting = a.waitForDecision(pending.id, { waitMs: 60_000 });
    await b.decide(
      pending.id,
      { approve: true, reviewer: "bob", reason: "go", payloadSha256: pending.payload_sha256 },
      60,
    );
    expect(await waiting).toMatchObject({ status: "approved", decision: { reviewer: "bob" } });
    await expect.poll(() => heard).toEqual(["pending", "approved"]);
  });

  it("lets only one replica claim an approval, and refuses a second decision from another", async () => {
    const prefix = freshPrefix();
    const replicas = [await replica(prefix), await replica(prefix), await replica(prefix)];
    const [a, b] = replicas as [RedisApprovalStore, RedisApprovalStore];
    const pending = await a.add(approvalRequest("agent-a"), 60);
    const decide = { approve: true, reviewer: "bob", reason: "", payloadSha256: pending.payload_sha256 };
    const decisions = await Promise.allSettled([
      a.decide(pending.id, decide, 60),
      b.decide(pending.id, decide, 60),
    ]);
    expect(decisions.filter((d) => d.status === "fulfilled")).toHaveLength(1);
    expect(decisions.find((d) => d.status === "rejected")).toMatchObject({
      reason: { code: "NOT_PENDING" },
    });
    const claims = await Promise.all(replicas.flatMap((r) => [r.claim(pending.id), r.claim(pending.id)]));
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    expect((await b.get(pending.id))?.status).toBe("submitted");
  });

  it("still has them when every replica restarts (opened anew through openApprovalStore)", async () => {
    const before = await openApprovalStore({
      file: undefined,
      timeScale: 1,
      redis: { coordination: await connection(), url: server.url, logger },
    });
    const pending = await before.add(approvalRequest("agent-a"), 60);
    await before.close?.();
    const after = await openApprovalStore({
      file: undefined,
      timeScale: 1,
      redis: { coordination: await connection(), url: server.url, logger },
    });
    try {
      expect(await after.get(pending.id)).toEqual(pending);
      expect((await after.list()).map((x) => x.id)).toContain(pending.id);
    } finally {
      await after.close?.();
    }
  });

  it("keeps an approval in Redis until 3 days (scaled) past its expiry, then forgets it", async () => {
    const prefix = freshPrefix();
    // 3 days and 1 minute at a time scale of 2,592,000: 100 ms and about 0.02 ms.
    const store = await replica(prefix, { timeScale: 2_592_000 });
    const pending = await store.add(approvalRequest("agent-a"), 1);
    const ttl = await server.admin.pttl(`${prefix}:approval:${pending.id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(101);
    await expect.poll(() => store.list(), { timeout: 5_000 }).toEqual([]);
    expect(await store.get(pending.id)).toBeUndefined();
    expect(await server.admin.zcard(`${prefix}:approvals:index`)).toBe(0);
  });
});

async function connection(): Promise<CoordinationRedis> {
  const redis = new CoordinationRedis({ url: server.url, logger });
  connections.push(redis);
  await redis.ready(5_000);
  return redis;
}
