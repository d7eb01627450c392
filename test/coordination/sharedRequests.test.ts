import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationRedis } from "../../src/coordination/index.js";
import { RedisPolling } from "../../src/coordination/redisPolling.js";
import { RedisRequestRegistry } from "../../src/coordination/redisRequestRegistry.js";
import { MachineActionSchema, type MachineAction } from "../../src/defender/schemas.js";
import type { SharedRequest } from "../../src/liveResponse/requestRegistry.js";
import { createLogger } from "../../src/logger.js";
import { startRedisServer, type RedisServer } from "./redisServer.js";

/** Leases of 30 s at a time scale of 100 are 300 ms; a replica is taken for dead 300 ms after it stops renewing. */
const TIME_SCALE = 100;
const LEASE_MS = 30_000;
const LEASE_MS_SCALED = LEASE_MS / TIME_SCALE;
const logger = createLogger({ level: "silent" });

let server: RedisServer;
const connections: CoordinationRedis[] = [];
const registries: RedisRequestRegistry[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

async function connect(): Promise<CoordinationRedis> {
  const redis = new CoordinationRedis({ url: server.url, commandTimeoutMs: 300, logger });
  connections.push(redis);
  await redis.ready(5_000);
  return redis;
}

/** A replica's registry on a connection of its own. */
async function replica(redis?: CoordinationRedis): Promise<RedisRequestRegistry> {
  const registry = new RedisRequestRegistry(redis ?? (await connect()), {
    leaseMs: LEASE_MS,
    timeScale: TIME_SCALE,
    logger,
  });
  registries.push(registry);
  return registry;
}

let counter = 0;
function queuedBy(owner: RedisRequestRegistry): SharedRequest {
  counter += 1;
  return {
    requestId: `req_${counter.toString(16).padStart(12, "0")}`,
    machineId: `device-${counter}`,
    owner: owner.owner,
    state: "queued",
    actionId: null,
    failure: null,
    place: null,
    machine: null,
    send: {
      commands: [{ type: "RunScript", scriptName: "collect.ps1", args: "-Full" }],
      comment: "triage",
      since: Date.now(),
    },
  };
}

describe("shared requests: atomic state changes in Redis", () => {
  it("a request queued on one replica is withdrawn through another, and its owner can no longer send it", async () => {
    const [a, b] = [await replica(), await replica()];
    const record = queuedBy(a);
    await a.queue(record);
    expect(await b.get(record.requestId)).toMatchObject({
      state: "queued",
      owner: a.owner,
      machineId: record.machineId,
    });
    expect((await b.withdraw(record.requestId))?.state).toBe("withdrawn");
    expect(await a.beginSubmit(record)).toBe("withdrawn");
    const { withdrawn } = await a.publishPlaces(new Map([[record.requestId, placeOf(2)]]));
    expect(withdrawn).toEqual([record.requestId]);
  });

  it("once its owner begins the submit, a withdrawal elsewhere changes nothing; the action id then resolves anywhere", async () => {
    const [a, b] = [await replica(), await replica()];
    const record = queuedBy(a);
    await a.queue(record);
    expect(await b.beginSubmit(record)).toBe("handed-over");
    expect(await a.beginSubmit(record)).toBe("granted");
    expect((await b.withdraw(record.requestId))?.state).toBe("submitting");
    await a.settle(record, { state: "submitted", actionId: "7f0c3a5e-1111-4222-8333-944455556666" });
    expect(await b.get(record.requestId)).toMatchObject({
      state: "submitted",
      actionId: "7f0c3a5e-1111-4222-8333-944455556666",
      send: null,
    });
    expect((await b.withdraw(record.requestId))?.state).toBe("submitted");
  });

  it("the owner's places are what other replicas read; a failure is kept in words", async () => {
    const [a, b] = [await replica(), await replica()];
    const record = queuedBy(a);
    await a.queue(record);
    await a.publishPlaces(new Map([[record.requestId, placeOf(3)]]));
    expect((await b.get(record.requestId))?.place).toEqual(placeOf(3));
    await a.settle(record, { state: "failed", failure: "device is offline" });
    expect(await b.get(record.requestId)).toMatchObject({ state: "failed", failure: "device is offline" });
    expect(await b.get("req_000000000000")).toBeUndefined();
  });

  it("a record the index lost is written again by its owner, who may then send it", async () => {
    const a = await replica();
    const record = queuedBy(a);
    await a.queue(record);
    await server.admin.del(`mde:request:${record.requestId}`);
    expect((await a.publishPlaces(new Map([[record.requestId, placeOf(1)]]))).missing).toEqual([
      record.requestId,
    ]);
    expect(await a.beginSubmit(record)).toBe("granted");
    expect((await a.get(record.requestId))?.state).toBe("submitting");
  });

  it("a dead replica's queued and submitting requests are adopted by exactly one live replica", async () => {
    const deadConnection = await connect();
    const dead = await replica(deadConnection);
    dead.start();
    const [queued, sending, sent] = [queuedBy(dead), queuedBy(dead), queuedBy(dead)];
    for (const record of [queued, sending, sent]) await dead.queue(record);
    expect(await dead.beginSubmit(sending)).toBe("granted");
    expect(await dead.beginSubmit(sent)).toBe("granted");
    await dead.settle(sent, { state: "submitted", actionId: "7f0c3a5e-1111-4222-8333-944455556666" });
    await untilAsync(async () => (await server.admin.exists(`mde:lock:replica:${dead.owner}`)) === 1);

    const adopters = [await replica(), await replica()];
    const adopted: Array<{ by: string; record: SharedRequest }> = [];
    // (Earlier tests' registries never took a liveness lease: their requests are orphans too.)
    const ofDead = new Set([queued, sending, sent].map((r) => r.requestId));
    for (const adopter of adopters) {
      adopter.onAdopted((record) => {
        if (ofDead.has(record.requestId)) adopted.push({ by: adopter.owner, record });
      });
      adopter.start();
    }
    // Alive (renewing its lease): nothing of it is adopted.
    await sleep(2 * LEASE_MS_SCALED);
    expect(adopted).toEqual([]);

    // It stops renewing, as a killed process does: one lease later its requests change hands, once.
    await deadConnection.close();
    await untilAsync(async () => adopted.length >= 2);
    await sleep(2 * LEASE_MS_SCALED);
    expect(adopted.map((a) => a.record.requestId).sort()).toEqual(
      [queued.requestId, sending.requestId].sort(),
    );
    for (const { by, record } of adopted) expect(record.owner).toBe(by);
    expect(adopted.find((a) => a.record.requestId === sending.requestId)?.record.state).toBe("submitting");
    expect(adopted.find((a) => a.record.requestId === queued.requestId)?.record.send?.commands).toEqual(
      queued.send?.commands,
    );
    // The adopter owns them now: it alone may send them.
    const owner = adopters.find((a) => a.owner === adopted[0]!.by)!;
    const other = adopters.find((a) => a !== owner)!;
    const first = adopted[0]!.record;
    expect(await other.beginSubmit(first)).toBe("handed-over");
    expect(await owner.beginSubmit(first)).toBe("granted");
  });

  it("actions in flight: a live replica's stay its own, unrecorded ones go to one claimer, a dead one's to one adopter, finished ones to none", async () => {
    // Earlier tests' live replicas step down: the claimers here are the only ones alive.
    await Promise.all(registries.splice(0).map((r) => r.close()));
    const ownerConnection = await connect();
    const owner = await replica(ownerConnection);
    owner.start();
    await untilAsync(async () => owner.isAlive());
    const [followed, ended] = [queuedBy(owner), queuedBy(owner)];
    for (const [i, record] of [followed, ended].entries()) {
      await owner.queue(record);
      await owner.beginSubmit(record);
      await owner.settle(record, { state: "submitted", actionId: `7f0c3a5e-1111-4222-8333-94445555666${i}` });
    }
    await owner.finished([ended.requestId]);
    const inFlight = (record: SharedRequest, i: number) => ({
      requestId: record.requestId,
      machineId: record.machineId,
      actionId: `7f0c3a5e-1111-4222-8333-94445555666${i}`,
    });
    const unrecorded = { requestId: "req_00000000beef", machineId: "device-x", actionId: "action-x" };
    const actions = [inFlight(followed, 0), inFlight(ended, 1), unrecorded];

    // A replica not alive yet cannot tell whose they are.
    expect(await (await replica()).claimInFlight(actions)).toBeUndefined();

    const claimers = [await replica(), await replica()];
    const adopted: Array<{ by: string; record: SharedRequest }> = [];
    for (const claimer of claimers) {
      claimer.onAdoptedInFlight((records) => {
        for (const record of records)
          if (record.requestId === followed.requestId || record.requestId === ended.requestId)
            adopted.push({ by: claimer.owner, record });
      });
      claimer.start();
    }
    await untilAsync(async () => claimers.every((c) => c.isAlive()));
    const claims = await Promise.all(claimers.map((c) => c.claimInFlight(actions)));
    // The live owner's stay its own; the unrecorded one (a server from before Redis) goes to one of them.
    expect(claims.flatMap((c) => c!.mine)).toEqual([unrecorded.requestId]);
    for (const claim of claims) expect(claim!.others).toEqual(expect.arrayContaining([followed.requestId]));
    expect(await owner.claimInFlight([inFlight(followed, 0)])).toEqual({
      mine: [followed.requestId],
      others: [],
    });

    // The owner dies: one lease later its action still in flight goes to one adopter; the finished one to none.
    await ownerConnection.close();
    await untilAsync(async () => adopted.length >= 1);
    await sleep(2 * LEASE_MS_SCALED);
    expect(adopted.map((a) => a.record.requestId)).toEqual([followed.requestId]);
    const [{ by, record }] = adopted as [{ by: string; record: SharedRequest }];
    expect(record).toMatchObject({ owner: by, state: "submitted", actionId: inFlight(followed, 0).actionId });
    const other = claimers.find((c) => c.owner !== by)!;
    expect(await other.claimInFlight([inFlight(followed, 0)])).toEqual({
      mine: [],
      others: [followed.requestId],
    });
  });
});

/** Resolves once `condition` holds, asking every 20 ms; fails after 5 s. */
async function untilAsync(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await condition()) return;
    await sleep(20);
  }
  throw new Error("condition not met in 5 s");
}

function placeOf(position: number) {
  return { position, of: 4, waitingFor: "session" as const, estimateSeconds: null };
}

describe("shared polling state", () => {
  it("the leader's states are read with their age; final ones are no longer wanted", async () => {
    const redis = await connect();
    const polling = new RedisPolling(redis, {
      tenantId: "tenant-1",
      intervalMs: 5_000,
      idleIntervalMs: 30_000,
      leaseMs: LEASE_MS,
      timeScale: TIME_SCALE,
      logger,
    });
    await polling.want(["AAAA-1", "bbbb-2"], ["bbbb-2"]);
    expect(await polling.wanted()).toEqual({ ids: ["aaaa-1", "bbbb-2"], followed: true });
    await polling.publish([action("aaaa-1", "Succeeded"), action("bbbb-2", "InProgress")], []);
    const states = await polling.read(["aaaa-1", "BBBB-2", "cccc-3"]);
    expect(states.map((s) => [s.action.id, s.action.status])).toEqual([
      ["aaaa-1", "Succeeded"],
      ["bbbb-2", "InProgress"],
    ]);
    expect(states.every((s) => s.ageMs >= 0 && s.ageMs < 1_000)).toBe(true);
    expect((await polling.wanted()).ids).toEqual(["bbbb-2"]);
    await polling.publish([], ["bbbb-2"]);
    expect(await polling.wanted()).toEqual({ ids: [], followed: false });
  });
});

function action(id: string, status: string): MachineAction {
  return MachineActionSchema.parse({
    id,
    type: "LiveResponse",
    status,
    machineId: "device-1",
    requestorComment: "triage",
    commands: [],
  });
}
