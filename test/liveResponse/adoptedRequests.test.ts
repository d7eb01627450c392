import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CoordinationRedis, RedisLocks, RedisSemaphore } from "../../src/coordination/index.js";
import { RedisRequestRegistry } from "../../src/coordination/redisRequestRegistry.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import { correlationTag, newRequestId, taggedComment } from "../../src/liveResponse/requestIds.js";
import type { SubmittedRequest } from "../../src/liveResponse/types.js";
import { DEVICES, SCRIPT, quietLogger } from "../defender/clientFixture.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";
import { until } from "../helpers/until.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

/**
 * A replica that died leaves its requests in Redis; a live one (the service here) adopts them. One the
 * dead replica had claimed to send may or may not have reached Defender: it is looked up by its tag
 * first and sent only when no action carries it. Leases of 30 s last 300 ms here.
 */
const LEASES = { leaseMs: 30_000, timeScale: 100, logger: quietLogger };
const commands = [{ type: "RunScript" as const, scriptName: SCRIPT }];

let sf: ServiceFixture;
let redis: RedisServer;
const connections: CoordinationRedis[] = [];
const registries: RedisRequestRegistry[] = [];
let service: LiveResponseService;
let adopted: SubmittedRequest[];

async function connect(): Promise<CoordinationRedis> {
  const connection = new CoordinationRedis({ url: redis.url, commandTimeoutMs: 300, logger: quietLogger });
  connections.push(connection);
  await connection.ready(5_000);
  return connection;
}

beforeAll(async () => {
  sf = await startServiceFixture();
  redis = await startRedisServer();
  const connection = await connect();
  const registry = new RedisRequestRegistry(connection, LEASES);
  registries.push(registry);
  service = sf.service({
    shared: {
      sessions: new RedisSemaphore(connection, { name: "sessions", capacity: 25, ...LEASES }),
      devices: new RedisLocks(connection, LEASES),
      requests: registry,
    },
  });
  service.onAdoptedOutcome((entry) => adopted.push(entry));
  registry.start();
});
afterAll(async () => {
  service?.close();
  await Promise.all(registries.map((r) => r.close()));
  await Promise.all(connections.map((c) => c.close()));
  await redis?.close();
  await sf?.close();
});
beforeEach(() => {
  adopted = [];
  sf.fx.t.sim.reset();
});

/**
 * A replica that queues a request for `machineId`, claims it to send it, sends it or not, and dies
 * (its connection closes: its liveness lease lapses, as when it is killed).
 */
async function replicaDyingWhileSending(machineId: string, sent: boolean): Promise<string> {
  const connection = await connect();
  const dead = new RedisRequestRegistry(connection, LEASES);
  registries.push(dead);
  dead.start();
  await until(() => dead.isAlive());
  const requestId = newRequestId();
  const record = {
    requestId,
    machineId,
    owner: dead.owner,
    state: "queued" as const,
    actionId: null,
    failure: null,
    place: null,
    machine: null,
    send: { commands, comment: "sent by a replica that died", since: Date.now() },
  };
  await dead.queue(record);
  expect(await dead.beginSubmit(record)).toBe("granted");
  if (sent) {
    await sf.fx
      .client()
      .runLiveResponse(machineId, { commands, comment: taggedComment(record.send.comment, requestId) });
  }
  await connection.close();
  return requestId;
}

function tagged(requestId: string): string[] {
  return sf.fx.t.sim.engine
    .listActions()
    .filter((a) => (a.requestorComment ?? "").includes(correlationTag(requestId)))
    .map((a) => a.id);
}

describe("an action in flight adopted by another replica while this one was taken for dead", () => {
  it("is that replica's once this one is alive again: this one frees its session slot and does not record its end", async () => {
    const [mine] = registries as [RedisRequestRegistry];
    const finals: string[] = [];
    service.onFinal((action) => finals.push(action.id));
    const [entry] = await service.submit(
      { machineIds: [DEVICES.offlineKiosk], commands, comment: "held while frozen" },
      { queue: true, waitMs: 5_000 },
    );
    const actionId = entry!.action!.id;
    const holds = () => service.sessions().held.some((h) => h.actionId === actionId);
    expect(holds()).toBe(true);
    const other = new RedisRequestRegistry(await connect(), LEASES);
    registries.push(other);
    other.start();
    await until(() => other.isAlive());
    // While this replica was taken for dead, the other adopted its action (as ADOPT leaves it) ...
    const key = `mde:request:${entry!.requestId}`;
    for (let i = 0; i < 100 && (await redis.admin.hget(key, "state")) !== "submitted"; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await redis.admin.hset(key, "owner", other.owner);
    // ... and its liveness lease lapsed; it takes it again and finds the action no longer its own.
    await redis.admin.del(`mde:lock:replica:${mine.owner}`);
    await until(() => !holds());
    expect(
      await other.claimInFlight([{ requestId: entry!.requestId, machineId: DEVICES.offlineKiosk, actionId }]),
    ).toEqual({
      mine: [entry!.requestId],
      others: [],
    });
    // Its end is the other replica's to record.
    await service.cancel(actionId, "test over");
    expect(finals).not.toContain(actionId);
    await other.close();
  });
});

describe("requests adopted from a replica that died while sending them", () => {
  it("one that reached Defender is found by its tag, not sent again, and answers to its request id", async () => {
    const requestId = await replicaDyingWhileSending(DEVICES.offlineKiosk, true);
    const [existing] = tagged(requestId);
    await until(() => adopted.length === 1);
    expect(adopted[0]).toMatchObject({ requestId, recovered: true, action: { id: existing } });
    expect(tagged(requestId)).toEqual([existing]);
    expect(sf.calls().runliveresponse).toBe(1);
    expect((await service.getAction(requestId)).action.id).toBe(existing);
  });

  it("one that never reached Defender is sent once", async () => {
    const requestId = await replicaDyingWhileSending(DEVICES.hr, false);
    await until(() => adopted.length === 1);
    expect(adopted[0]).toMatchObject({ requestId, recovered: false });
    expect(tagged(requestId)).toEqual([adopted[0]!.action!.id]);
    expect(sf.calls().runliveresponse).toBe(1);
    expect(sf.fx.t.sim.stats().duplicateSubmissions).toBe(0);
  });
});
