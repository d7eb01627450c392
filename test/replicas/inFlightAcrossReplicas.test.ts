import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationRedis, RedisSemaphore } from "../../src/coordination/index.js";
import { createLogger } from "../../src/logger.js";
import type { RunningSimulator } from "../../src/simulator/index.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { HOLDING_SCRIPT, offlineDevice, schedulingScenario } from "../scheduling/schedulingScenario.js";
import { actionsOnDevices } from "../scheduling/taggedActions.js";
import {
  actionEntry as entry,
  Replica,
  startCluster,
  type ReplicaCluster,
  type ReplicaOptions,
} from "./replicaCluster.js";

/**
 * Actions in flight at Defender (each holds a session) across replicas sharing Redis: a replica that
 * starts leaves a live replica's actions to it, and a replica killed with actions in flight has them
 * adopted by one survivor, which counts their sessions in the shared cap, locks their devices and
 * follows them to final. The devices are offline, so their actions stay Pending (holding their
 * sessions) until cancelled. A minute is 1 s here (MDE_TIME_SCALE 60): a lease lasts 1 s.
 */
const TIME_SCALE = 60;
const LEASE_SECONDS = 60;
const IN_FLIGHT = 3;
const commands = [{ type: "RunScript", script_name: HOLDING_SCRIPT }];
const devices = Array.from({ length: IN_FLIGHT }, (_, i) => offlineDevice(i));

let cluster: ReplicaCluster | undefined;
let sim: RunningSimulator;
let options: ReplicaOptions;
let connection: CoordinationRedis;
/** The shared session cap as every replica sees it (same name and prefix as the servers'). */
let sessions: RedisSemaphore;
let replicas: Replica[];
let entries: ActionEntry[];

async function until(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`${what}: not within 20 s`);
}

describe("actions in flight across replicas", () => {
  beforeAll(async () => {
    cluster = await startCluster({
      prefix: "replica-in-flight-",
      scenario: schedulingScenario({ offline: IN_FLIGHT }),
      names: ["a", "b"],
      timeScale: TIME_SCALE,
      maxSessions: 10,
      leaseSeconds: LEASE_SECONDS,
      audit: true,
    });
    ({ sim, options, replicas } = cluster);
    const logger = createLogger({ level: "silent" });
    connection = new CoordinationRedis({ url: cluster.redis.url, logger });
    await connection.ready(5_000);
    sessions = new RedisSemaphore(connection, { name: "sessions", capacity: 10, logger });
  }, 60_000);

  afterAll(async () => {
    await connection?.close();
    await cluster?.close();
  });

  it("a replica started while another has actions in flight leaves them to it: the shared session count does not rise", async () => {
    const [a] = replicas as [Replica, Replica];
    entries = await a.run(devices, commands, "in flight on a");
    await until("every action in flight", () => sim.stats().activeSessions === IN_FLIGHT);
    expect((await sessions.counts()).held).toBe(IN_FLIGHT);

    const c = await Replica.start("c", options);
    replicas.push(c);
    // Its start reconciled the tenant's tagged actions in flight: every one is a's, alive.
    expect(c.stderr).toMatch(/"adopted":0,"leftToOtherReplicas":3/);
    expect(await c.sessionsInUse()).toBe(0);
    expect(await a.sessionsInUse()).toBe(IN_FLIGHT);
    expect((await sessions.counts()).held).toBe(IN_FLIGHT);
    expect(sim.stats().activeSessions).toBe(IN_FLIGHT);
  }, 60_000);

  it("a replica killed with actions in flight: one survivor counts, locks and follows them; a new request for their device waits", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    await a.kill();
    // One lease later its session leases lapse, and a survivor adopts its actions in their place.
    await until(
      "the actions adopted",
      async () => (await b.sessionsInUse()) + (await c.sessionsInUse()) === IN_FLIGHT,
    );
    const adopter = (await b.sessionsInUse()) === IN_FLIGHT ? b : c;
    const other = adopter === b ? c : b;
    expect(await other.sessionsInUse()).toBe(0);
    // The shared cap counts the sessions that still exist at Defender, once each.
    await until("the shared count settled", async () => (await sessions.counts()).held === IN_FLIGHT);
    for (let i = 0; i < 4; i++) {
      expect((await sessions.counts()).held).toBe(sim.stats().activeSessions);
      await sleep((LEASE_SECONDS * 1000) / TIME_SCALE / 2);
    }

    // A new request for one of those devices, through the replica that did not adopt it, waits for the device.
    const [busy] = devices as [string];
    const [fresh] = (await other.run([busy], commands, "after the adoption")) as [ActionEntry];
    expect(fresh.status).toBe("Queued");
    expect(fresh.status_detail).toMatch(/device/);

    // The dead replica's actions are cancelled through the other replica; the adopter sees them end,
    // frees their devices, and the new request is sent only then.
    const cancelled: ActionEntry[] = [];
    for (const e of entries) cancelled.push(entry(await other.cancel(e.request_id!)));
    expect(cancelled.map((e) => e.status)).toEqual(Array(IN_FLIGHT).fill("Cancelled"));
    await until("the adopter's slots freed", async () => (await adopter.sessionsInUse()) === 0);
    const sent = await other.followToEnd(fresh.request_id!, ["Pending"]);
    expect(sent.action_id).not.toBeNull();
    const [onBusy] = actionsOnDevices(sim, [busy]);
    expect(onBusy!.actions.map((x) => [x.id, x.status]).sort((x, y) => x[1]!.localeCompare(y[1]!))).toEqual([
      [expect.any(String), "Cancelled"],
      [sent.action_id, "Pending"],
    ]);
    const stats = sim.stats();
    // Every submit was accepted: none met the device still busy.
    expect(stats.calls.runliveresponse).toBe(stats.submitsAccepted);
    expect(stats.duplicateSubmissions).toBe(0);
    expect(stats.throttledTotal).toBe(0);
    expect(entry(await other.cancel(fresh.request_id!)).status).toBe("Cancelled");

    // Their final statuses are in the adopter's audit log.
    const finals = await adopter.auditRecords("final_status");
    for (const e of cancelled) {
      expect(finals, e.action_id!).toContainEqual(
        expect.objectContaining({ action_id: e.action_id, status: "Cancelled" }),
      );
    }
    await until("every session freed", () => sim.stats().activeSessions === 0);
    await until("the shared count at zero", async () => (await sessions.counts()).held === 0);
  }, 60_000);
});
