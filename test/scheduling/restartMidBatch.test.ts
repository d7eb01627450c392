import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { SubmittedRequest } from "../../src/liveResponse/types.js";
import { startServiceFixture, type ServiceFixture } from "../liveResponse/serviceFixture.js";
import { HOLDING_SCRIPT, onlineDevice, schedulingScenario } from "./schedulingScenario.js";
import { actionsOnDevices, actionsTagged } from "./taggedActions.js";

const BATCH = 30;
const DEVICES = Array.from({ length: BATCH }, (_, i) => onlineDevice(i));
const SESSION_CAP = 25;
const commands = [{ type: "RunScript" as const, scriptName: HOLDING_SCRIPT }];
const IN_FLIGHT = new Set(["Pending", "InProgress"]);

/**
 * A server restarted in the middle of a 30-device batch: the first process (A) had a window's worth
 * submitted and the rest queued when it stopped; the second (B), with the same app registration and
 * client, takes A's actions back and finishes the batch. The script runs 5 minutes (half a second
 * here), so A's actions still run when B starts, and B must wait for them to free sessions.
 */
describe("a restart in the middle of a batch", () => {
  let sf: ServiceFixture;
  let a: LiveResponseService;
  let b: LiveResponseService;
  let fromA: SubmittedRequest[];
  let queuedInA: SubmittedRequest[];
  /** What became of each of A's queued requests once it stopped: withdrawn, or undefined for one already under way. */
  let afterStop: Array<SubmittedRequest | undefined>;
  let withdrawnInA: SubmittedRequest[];
  let inFlightAtRestart: string[];
  let adopted: number;

  beforeAll(async () => {
    sf = await startServiceFixture({ scenario: schedulingScenario({ online: BATCH, scriptSeconds: 300 }) });
    a = sf.service({ maxSessions: SESSION_CAP });
    fromA = await a.submit(
      { machineIds: DEVICES, commands, comment: "restart test" },
      { waitMs: 0, queue: true },
    );
    queuedInA = fromA.filter((e) => e.queued !== undefined);
    a.close();
    // A request whose turn had come as A stopped is seen through; the others are withdrawn.
    afterStop = await Promise.all(queuedInA.map((e) => a.queuedRequest(e.requestId, { waitMs: 5_000 })));
    withdrawnInA = queuedInA.filter((_, i) => afterStop[i] !== undefined);
    inFlightAtRestart = sf.fx.t.sim.engine
      .listActions()
      .filter((action) => IN_FLIGHT.has(action.status))
      .map((action) => action.id);
    b = sf.service({ maxSessions: SESSION_CAP });
    ({ adopted } = await b.reconcile());
  });
  afterAll(async () => {
    b.close();
    await sf.close();
  });

  it("had A submit some devices and queue the others, and withdraw those still queued when it stopped", () => {
    expect(fromA.filter((e) => e.action !== undefined).length).toBeGreaterThan(0);
    expect(withdrawnInA.length).toBeGreaterThan(0);
    queuedInA.forEach((entry, i) => {
      const tagged = actionsTagged(sf.fx.t.sim, entry.requestId);
      if (afterStop[i] === undefined) {
        expect(tagged).toHaveLength(1);
        return;
      }
      expect(afterStop[i]).toMatchObject({ withdrawn: true, action: undefined });
      expect(tagged).toEqual([]);
    });
  });

  it("has B adopt exactly A's actions still in flight, counted once and within the cap", async () => {
    expect(inFlightAtRestart.length).toBeGreaterThan(0);
    expect(adopted).toBe(inFlightAtRestart.length);
    const counts = b.sessions();
    expect(counts.inUse).toBe(adopted);
    expect(counts.inUse).toBeLessThanOrEqual(SESSION_CAP);
    expect(counts.held.map((h) => h.actionId).sort()).toEqual([...inFlightAtRestart].sort());
    expect(await b.reconcile()).toEqual({ adopted: 0 });
    expect(b.sessions().inUse).toBe(adopted);
  });

  it("has B finish the batch: every device ends with exactly one tagged action, none twice, never above the session cap", async () => {
    const sim = sf.fx.t.sim;
    const untouched = actionsOnDevices(sim, DEVICES)
      .filter((d) => d.actions.length === 0)
      .map((d) => d.machineId);
    expect(untouched.sort()).toEqual(withdrawnInA.map((e) => e.machineId).sort());
    const fromB = await b.submit(
      { machineIds: untouched, commands, comment: "restart test, resumed" },
      { waitMs: 30_000, queue: true },
    );
    expect(fromB.map((e) => e.error)).toEqual(fromB.map(() => undefined));
    const followed = await b.follow(
      fromB.flatMap((e) => (e.action ? [e.action] : [])),
      { waitMs: 30_000 },
    );
    expect(followed.map((f) => f.action.status)).toEqual(fromB.map(() => "Succeeded"));

    const sentByA = fromA.filter((e) => !withdrawnInA.includes(e));
    const requestOf = new Map([...sentByA, ...fromB].map((e) => [e.machineId, e.requestId]));
    for (const device of actionsOnDevices(sim, DEVICES)) {
      expect(device.actions).toHaveLength(1);
      expect(device.actions[0]!.requestIds).toEqual([requestOf.get(device.machineId)]);
    }
    const stats = sim.stats();
    expect(stats.duplicateSubmissions).toBe(0);
    expect(stats.maxActiveSessions).toBeLessThanOrEqual(SESSION_CAP);
    expect(stats.throttledTotal).toBe(0);
  });
});
