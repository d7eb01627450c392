import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { SubmittedRequest } from "../../src/liveResponse/types.js";
import { startServiceFixture, type ServiceFixture } from "../liveResponse/serviceFixture.js";
import { HOLDING_SCRIPT, offlineDevice, onlineDevice, schedulingScenario } from "./schedulingScenario.js";
import { actionsTagged } from "./taggedActions.js";

const SESSION_CAP = 3;
/** Ten minutes in the simulator's offline queue (a second here) before an action ends TimeOut. */
const OFFLINE_QUEUE_SECONDS = 600;
const commands = [{ type: "RunScript" as const, scriptName: HOLDING_SCRIPT }];

/**
 * Actions queued on offline devices hold their sessions until they are final, whether by a cancel or
 * by Defender's TimeOut, and a request waiting for a session gets the first one they free; the
 * background poller sees a TimeOut with no caller following the action.
 */
describe("offline devices and the session cap", () => {
  let sf: ServiceFixture;
  let service: LiveResponseService;

  beforeAll(async () => {
    sf = await startServiceFixture({
      scenario: schedulingScenario({ online: 2, offline: 4 }),
      offlineQueueSeconds: OFFLINE_QUEUE_SECONDS,
    });
    // The fixture's idle pace is an hour; here the background poller must notice a TimeOut by itself.
    service = sf.service({ maxSessions: SESSION_CAP, idlePollIntervalSeconds: 30 });
  });
  afterAll(async () => {
    service.close();
    await sf.close();
  });

  async function submit(machineId: string, queue = false): Promise<SubmittedRequest> {
    const [entry] = await service.submit(
      { machineIds: [machineId], commands, comment: "offline sessions test" },
      { waitMs: 0, queue },
    );
    return entry!;
  }

  function actionIdOf(entry: SubmittedRequest): string {
    if (entry.action === undefined) throw new Error(`not submitted: ${String(entry.error ?? "queued")}`);
    return entry.action.id;
  }

  const statusInSimulator = (actionId: string) => sf.fx.t.sim.engine.getAction(actionId)?.status;

  it("fills the cap with three Pending actions and queues a fourth request for a session", async () => {
    const held = [
      await submit(offlineDevice(0)),
      await submit(offlineDevice(1)),
      await submit(offlineDevice(2)),
    ].map(actionIdOf);
    expect(held.map(statusInSimulator)).toEqual(["Pending", "Pending", "Pending"]);
    expect(service.sessions()).toMatchObject({ inUse: 3, max: SESSION_CAP });

    const waiting = await submit(onlineDevice(0), true);
    expect(waiting.queued).toMatchObject({ position: 1, of: 1, waitingFor: "session" });
    expect(sf.calls().runliveresponse).toBe(3);

    // A cancel frees its slot, and the queued request goes out with no one following it.
    await service.cancel(held[0]!, "make room");
    expect(await service.queuedRequest(waiting.requestId, { waitMs: 10_000 })).toBeUndefined();
    const { action } = await service.getAction(waiting.requestId);
    expect(action.machineId).toBe(onlineDevice(0));
    expect(actionsTagged(sf.fx.t.sim, waiting.requestId)).toEqual([action.id]);
    const [done] = await service.follow([action], { waitMs: 10_000 });
    expect(done!.action.status).toBe("Succeeded");
    expect(
      service
        .sessions()
        .held.map((h) => h.actionId)
        .sort(),
    ).toEqual([held[1]!, held[2]!].sort());
  });

  it("frees the slots of actions that reach TimeOut, seen by the background poller alone", async () => {
    const third = actionIdOf(await submit(offlineDevice(3)));
    const [first, second] = service.sessions().held.filter((h) => h.actionId !== third);
    expect(service.sessions().inUse).toBe(SESSION_CAP);

    const waiting = await submit(onlineDevice(1), true);
    expect(waiting.queued).toMatchObject({ position: 1, waitingFor: "session" });
    // Still in Defender's offline queue when the request took its place.
    expect([first, second].map((h) => statusInSimulator(h!.actionId))).toEqual(["Pending", "Pending"]);

    expect(await service.queuedRequest(waiting.requestId, { waitMs: 10_000 })).toBeUndefined();
    expect([first, second].map((h) => statusInSimulator(h!.actionId))).toContain("TimeOut");
    expect(actionsTagged(sf.fx.t.sim, waiting.requestId)).toHaveLength(1);

    // Nobody waits now: the idle rounds alone see every remaining action end.
    await vi.waitFor(() => expect(service.sessions().inUse).toBe(0), { timeout: 10_000, interval: 5 });
    expect(statusInSimulator(third)).toBe("TimeOut");
    // Their devices are free again: a new request goes out at once.
    expect((await submit(offlineDevice(1))).error).toBeUndefined();
    expect(sf.fx.t.sim.stats().maxActiveSessions).toBeLessThanOrEqual(SESSION_CAP);
    expect(sf.fx.t.sim.stats().throttledTotal).toBe(0);
  });
});
