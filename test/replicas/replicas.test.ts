import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../src/simulator/index.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import type { RedisServer } from "../coordination/redisServer.js";
import { HOLDING_SCRIPT, onlineDevice, schedulingScenario } from "../scheduling/schedulingScenario.js";
import { actionsOnDevices } from "../scheduling/taggedActions.js";
import {
  FINAL_STATUSES as FINAL,
  startCluster,
  type Replica,
  type ReplicaCluster,
} from "./replicaCluster.js";

/**
 * Three server processes sharing one Redis, each with its own agent, all acting on one tenant (the
 * simulator): together they keep the tenant's limits. A minute is 1 s here (MDE_TIME_SCALE 60); a
 * lease outlives a dead replica by 3 s. As the README asks of any deployment, the lease is longer
 * than the pauses a replica may take: a loaded 2-core machine running the whole suite can hold a
 * process for hundreds of milliseconds.
 */
const TIME_SCALE = 60;
const DEVICES = 36;
const MAX_SESSIONS = 6;
const SUBMIT_LIMIT = 10;
const LEASE_SECONDS = 180;
const commands = [{ type: "RunScript", script_name: HOLDING_SCRIPT }];
const devices = Array.from({ length: DEVICES }, (_, i) => onlineDevice(i));
/** Each agent's share of the batch. */
const shares = [0, 1, 2].map((r) => devices.filter((_, i) => i % 3 === r));

let cluster: ReplicaCluster | undefined;
let redis: RedisServer;
let sim: RunningSimulator;
let replicas: Replica[];

/** The tenant's limits held across every replica, whatever happened so far. */
function expectLimitsHeld(): void {
  const stats = sim.stats();
  expect(stats.maxSubmitsInAnyWindow).toBeLessThanOrEqual(SUBMIT_LIMIT);
  const over = stats.maxActiveSessions > MAX_SESSIONS;
  expect(stats.maxActiveSessions, over ? busiestMoment() : undefined).toBeLessThanOrEqual(MAX_SESSIONS);
  expect(stats.throttledTotal).toBe(0);
  expect(stats.duplicateSubmissions).toBe(0);
}

/** Every device of `batch` (by its comment) has exactly one action, and it succeeded. */
async function expectBatchDone(comment: string, onDevices: readonly string[]): Promise<void> {
  // Actions left by a dead replica finish at Defender on their own.
  for (let i = 0; i < 200; i++) {
    const open = sim.engine.listActions().filter((a) => !FINAL.includes(a.status));
    if (open.length === 0) break;
    await sleep(50);
  }
  for (const { machineId, actions } of actionsOnDevices(sim, onDevices)) {
    const ofBatch = actions.filter((a) => commentOf(a.id).includes(comment));
    expect(
      ofBatch.map((a) => a.status),
      machineId,
    ).toEqual(["Succeeded"]);
  }
}

/** The actions live together at the busiest moment so far, each with the replica that logged submitting it. */
function busiestMoment(): string {
  const actions = sim.engine.listActions();
  const at = (iso: string) => Date.parse(iso);
  const live = (t: number) =>
    actions.filter(
      (a) => at(a.creationDateTimeUtc) <= t && (!FINAL.includes(a.status) || at(a.lastUpdateDateTimeUtc) > t),
    );
  const busiest = actions
    .map((a) => live(at(a.creationDateTimeUtc)))
    .reduce((most, set) => (set.length > most.length ? set : most), [] as typeof actions);
  const start = Math.min(...busiest.map((a) => at(a.creationDateTimeUtc)));
  const submitter = (id: string) => replicas.find((r) => r.stderr.includes(id))?.name ?? "?";
  return busiest
    .sort((x, y) => at(x.creationDateTimeUtc) - at(y.creationDateTimeUtc))
    .map(
      (a) =>
        `+${at(a.creationDateTimeUtc) - start} ms to +${at(a.lastUpdateDateTimeUtc) - start} ms ${a.status} ` +
        `by ${submitter(a.id)}: ${a.requestorComment ?? ""}`,
    )
    .join("\n");
}

function commentOf(actionId: string): string {
  return sim.engine.listActions().find((a) => a.id === actionId)?.requestorComment ?? "";
}

/** One agent's batch on its replica, followed to the end; returns the entries as last seen. */
async function runAndFollow(
  replica: Replica,
  share: readonly string[],
  comment: string,
): Promise<ActionEntry[]> {
  const entries = await replica.run(share, commands, comment);
  return Promise.all(entries.map((e) => replica.followToEnd(e.request_id!, FINAL)));
}

/** Waits until the simulator has accepted `count` submits in all. */
async function untilSubmits(count: number): Promise<void> {
  for (let i = 0; i < 400 && sim.stats().submitsAccepted < count; i++) await sleep(10);
}

describe("three replicas sharing Redis keep one tenant's limits", () => {
  beforeAll(async () => {
    cluster = await startCluster({
      prefix: "replicas-",
      scenario: schedulingScenario({ online: DEVICES, scriptSeconds: 3 }),
      names: ["a", "b", "c"],
      timeScale: TIME_SCALE,
      maxSessions: MAX_SESSIONS,
      leaseSeconds: LEASE_SECONDS,
    });
    ({ sim, redis, replicas } = cluster);
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it("three agents batch 36 devices at once: at most 10 submits a window, sessions within the cap, no 429, no duplicate", async () => {
    const results = await Promise.all(
      replicas.map((r, i) => runAndFollow(r, shares[i]!, "replicas batch one")),
    );
    expect(results.flat().map((e) => e.status)).toEqual(Array(DEVICES).fill("Succeeded"));
    await expectBatchDone("replicas batch one", devices);
    expectLimitsHeld();
    expect(sim.stats().maxSubmitsInAnyWindow).toBe(SUBMIT_LIMIT);
  }, 60_000);

  it("a replica frozen (SIGSTOP) past its leases and resumed grants nothing twice, and the batch finishes", async () => {
    const before = sim.stats().submitsAccepted;
    const batches = replicas.map((r, i) => runAndFollow(r, shares[i]!, "replicas batch frozen"));
    await untilSubmits(before + 3);
    replicas[2]!.freeze();
    // Twice its lease: every lease it held has lapsed, and the others may take them.
    await sleep(2 * ((LEASE_SECONDS * 1000) / TIME_SCALE));
    replicas[2]!.thaw();
    const results = await Promise.all(batches);
    expect(results.flat().map((e) => e.status)).toEqual(Array(DEVICES).fill("Succeeded"));
    await expectBatchDone("replicas batch frozen", devices);
    expectLimitsHeld();
  }, 60_000);

  it("Redis restarted mid-batch: submits pause while it is down (/readyz says so), then resume within the limits", async () => {
    const before = sim.stats().submitsAccepted;
    const batches = replicas.map((r, i) => runAndFollow(r, shares[i]!, "replicas batch redis"));
    await untilSubmits(before + 5);
    await redis.stop();
    await sleep(300);
    const whileDown = sim.stats().submitsAccepted;
    const ready = await replicas[0]!.readiness();
    expect(ready.status).toBe(503);
    expect(ready.checks.redis).toMatch(/unreachable/);
    await sleep(700);
    expect(sim.stats().submitsAccepted).toBe(whileDown);
    await redis.start();
    const results = await Promise.all(batches);
    expect(results.flat().map((e) => e.status)).toEqual(Array(DEVICES).fill("Succeeded"));
    await expectBatchDone("replicas batch redis", devices);
    expectLimitsHeld();
    expect((await replicas[0]!.readiness()).checks.redis).toBe("ok");
  }, 60_000);

  it("a replica killed (SIGKILL) mid-batch: its leases lapse, the others adopt its queued requests and finish the batch", async () => {
    const before = sim.stats().submitsAccepted;
    const [dead, ...alive] = replicas as [Replica, Replica, Replica];
    const comment = "replicas batch killed";
    const survivors = alive.map((r, i) => runAndFollow(r, shares[i + 1]!, comment));
    const deadEntries = await dead.run(shares[0]!, commands, comment);
    await untilSubmits(before + 3);
    await dead.kill();
    // Its requests live on in Redis: its agent follows them through another replica, and nothing is sent again.
    expect(deadEntries.length).toBe(shares[0]!.length);
    const adopted = Promise.all(deadEntries.map((e) => alive[0].followToEnd(e.request_id!, FINAL)));
    const results = [...(await Promise.all(survivors)).flat(), ...(await adopted)];
    expect(results.map((e) => e.status)).toEqual(Array(DEVICES).fill("Succeeded"));
    await expectBatchDone(comment, devices);
    expectLimitsHeld();
  }, 60_000);
});
