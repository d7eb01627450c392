import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../src/simulator/index.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { HOLDING_SCRIPT, onlineDevice, schedulingScenario } from "../scheduling/schedulingScenario.js";
import { actionsOnDevices, actionsTagged } from "../scheduling/taggedActions.js";
import {
  actionEntry as entry,
  FINAL_STATUSES as FINAL,
  startCluster,
  type Replica,
  type ReplicaCluster,
} from "./replicaCluster.js";

/**
 * Request ids and queued requests shared through Redis by three server processes: any replica answers
 * get_action and cancel_action for a request another took, a request withdrawn through another
 * replica is never sent, and a killed replica's queued requests are sent once each by a live one.
 * A minute is 1 s here (MDE_TIME_SCALE 60): a script holds its session 2 s, a lease lasts 1 s.
 */
const TIME_SCALE = 60;
const MAX_SESSIONS = 2;
const LEASE_SECONDS = 60;
const commands = [{ type: "RunScript", script_name: HOLDING_SCRIPT }];

let cluster: ReplicaCluster | undefined;
let sim: RunningSimulator;
let replicas: Replica[];

/** Waits until no action of the simulator is in flight (every session freed). */
async function untilIdle(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (sim.engine.listActions().every((a) => FINAL.includes(a.status))) return;
    await sleep(50);
  }
  throw new Error("actions still in flight after 30 s");
}

describe("request ids and queued requests shared by replicas", () => {
  beforeAll(async () => {
    cluster = await startCluster({
      prefix: "replica-requests-",
      scenario: schedulingScenario({ online: 12, scriptSeconds: 120 }),
      names: ["a", "b", "c"],
      timeScale: TIME_SCALE,
      maxSessions: MAX_SESSIONS,
      leaseSeconds: LEASE_SECONDS,
      audit: true,
    });
    ({ sim, replicas } = cluster);
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it("get_action and cancel_action by request id work on any replica; a request withdrawn through another is never sent", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const devices = [0, 1, 2, 3].map(onlineDevice);
    const entries = await a.run(devices, commands, "shared request ids");
    // Two sessions: the last two devices wait for one (the first two may still wait for the submit budget).
    expect(entries.slice(2).map((e) => e.status_detail)).toEqual([
      expect.stringMatching(/position 1 of 2 waiting for a live response session/),
      expect.stringMatching(/position 2 of 2 waiting for a live response session/),
    ]);
    const [first, second, queued, withdrawn] = entries as [
      ActionEntry,
      ActionEntry,
      ActionEntry,
      ActionEntry,
    ];

    // A queued request read through another replica, with its place as its owner wrote it.
    const queuedOnB = entry(await b.getAction(queued.request_id!, 0));
    expect(queuedOnB.status).toBe("Queued");
    expect(queuedOnB.action_id).toBeNull();
    expect(queuedOnB.status_detail).toMatch(/waiting for a live response session/);

    // Withdrawn through C: it is never sent, and A says so too.
    const cancelled = entry(await c.cancel(withdrawn.request_id!));
    expect(cancelled.status).toBe("Cancelled");
    expect(cancelled.action_id).toBeNull();

    // Submitted requests, followed to their end through replicas that did not take them.
    const firstOnB = await b.followUntilFinal(first.request_id!, 20);
    expect(firstOnB.status).toBe("Succeeded");
    expect(actionsTagged(sim, first.request_id!)).toEqual([firstOnB.action_id]);
    expect((await c.followUntilFinal(second.request_id!, 20)).status).toBe("Succeeded");
    // The other queued request is sent when a session frees, and followed through B.
    expect((await b.followUntilFinal(queued.request_id!, 20)).status).toBe("Succeeded");
    await untilIdle();
    expect(actionsTagged(sim, withdrawn.request_id!)).toEqual([]);
    expect(actionsTagged(sim, queued.request_id!)).toHaveLength(1);
    const onA = entry(await a.getAction(withdrawn.request_id!, 0));
    expect(onA.status).toBe("Cancelled");
    expect(onA.action_id).toBeNull();
    expect(sim.stats().duplicateSubmissions).toBe(0);
  }, 60_000);

  it("a replica killed (SIGKILL) with queued requests: another submits each of them exactly once", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const devices = [4, 5, 6, 7, 8, 9].map(onlineDevice);
    const entries = await a.run(devices, commands, "adopted after a kill");
    const queued = entries.filter((e) => e.status === "Queued");
    expect(queued.length).toBeGreaterThanOrEqual(3);
    await a.kill();

    // Every request of the dead replica ends with its action, whichever replica is asked.
    const ended = await Promise.all(
      entries.map((e, i) => (i % 2 === 0 ? b : c).followUntilFinal(e.request_id!, 20)),
    );
    expect(ended.map((e) => e.status)).toEqual(Array(devices.length).fill("Succeeded"));
    await untilIdle();
    for (const { machineId, actions } of actionsOnDevices(sim, devices)) {
      expect(
        actions.filter((x) => x.requestIds.length > 0),
        machineId,
      ).toHaveLength(1);
    }
    for (const e of queued) expect(actionsTagged(sim, e.request_id!), e.request_id!).toHaveLength(1);
    const stats = sim.stats();
    expect(stats.duplicateSubmissions).toBe(0);
    expect(stats.throttledTotal).toBe(0);
    // Each submit a live replica made for the dead one is in that replica's audit log.
    const submittedTags = (await Promise.all([b, c].map((r) => r.auditRecords("submitted"))))
      .flat()
      .map((record) => record.correlation_tag);
    for (const e of queued) expect(submittedTags).toContain(`[mcp:${e.request_id}]`);
  }, 60_000);
});
