import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationRedis, RedisLeader } from "../../src/coordination/index.js";
import { createLogger } from "../../src/logger.js";
import { until } from "../helpers/until.js";
import { startRedisServer, type RedisServer } from "./redisServer.js";
import { killWorker, startWorker, type WorkerProcess } from "./workerProcess.js";
import { ACT, ACTS_KEY, type WorkerEvent } from "./workerProtocol.js";

const LEASE_MS = 600;
const logger = createLogger({ level: "silent" });

let server: RedisServer;
const connections: CoordinationRedis[] = [];
const workers: WorkerProcess[] = [];
const leaders: RedisLeader[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(leaders.map((l) => l.stop()));
  await Promise.all(workers.map(killWorker));
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

async function candidate(name: string, key: string): Promise<WorkerProcess> {
  const worker = await startWorker({ role: "leader", name, url: server.url, key, leaseMs: LEASE_MS });
  workers.push(worker);
  return worker;
}

const leading = (value: boolean) => (e: WorkerEvent) => e.event === "leading" && e.leading === value;

/** A leader in this process, and a promise of its first election. */
async function localLeader(
  key: string,
): Promise<{ leader: RedisLeader; redis: CoordinationRedis; elected: Promise<void> }> {
  const redis = new CoordinationRedis({ url: server.url, logger });
  connections.push(redis);
  await redis.ready(5_000);
  const leader = new RedisLeader(redis, { key, leaseMs: LEASE_MS, logger });
  leaders.push(leader);
  const elected = new Promise<void>((resolve) => leader.onChange((value) => value && resolve()));
  leader.start();
  return { leader, redis, elected };
}

describe("RedisLeader", () => {
  it("one of the replicas leads; when it is killed another takes over", async () => {
    const [a, b] = await Promise.all([candidate("a", "poller:tenant-1"), candidate("b", "poller:tenant-1")]);
    await until(() => [a, b].some((w) => w.events.some(leading(true))));
    const [first, second] = a.events.some(leading(true)) ? [a, b] : [b, a];
    expect(second.events.some(leading(true))).toBe(false);

    first.signal("SIGKILL");
    await second.next(leading(true));
    second.send("act");
    await second.next((e) => e.event === "acted");
  });

  it("a leader frozen past its lease finds it lost leadership before it does anything as leader", async () => {
    const frozen = await candidate("frozen", "poller:tenant-2");
    await frozen.next(leading(true));
    frozen.send("act");
    await frozen.next((e) => e.event === "acted");

    frozen.signal("SIGSTOP");
    const { leader, redis, elected } = await localLeader("poller:tenant-2");
    await elected;
    expect(leader.isLeader()).toBe(true);
    await redis.run(ACT, [ACTS_KEY], ["successor"]);

    const resumedAt = frozen.events.length;
    frozen.signal("SIGCONT");
    frozen.send("act");
    await frozen.next((e) => e.event === "refused-to-act", resumedAt);
    await frozen.next(leading(false), resumedAt);
    expect(leader.isLeader()).toBe(true);
    expect(
      (await server.admin.lrange(ACTS_KEY, 0, -1))
        .filter((e) => e.startsWith("frozen:") || e.startsWith("successor:"))
        .map((e) => e.split(":")[0]),
    ).toEqual(["frozen", "successor"]);

    await leader.stop();
    expect(leader.isLeader()).toBe(false);
    // Handed over on stop: the frozen replica, campaigning again, leads next.
    await frozen.next(leading(true), resumedAt);
  });
});
