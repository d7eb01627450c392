import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DefenderNetworkError } from "../../src/defender/errors.js";
import { DeviceBusyError } from "../../src/liveResponse/deviceLocks.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import { SessionCapError } from "../../src/liveResponse/sessionTracker.js";
import type { SubmittedRequest } from "../../src/liveResponse/types.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { generatedDeviceId, scenarioWith } from "../helpers/simulatorHarness.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

/** Generated devices that never come online: their actions stay Pending and hold a session. */
const OFFLINE = [0, 1, 2, 3].map(generatedDeviceId);
const runScript = [{ type: "RunScript" as const, scriptName: SCRIPT }];

let sf: ServiceFixture;

beforeAll(async () => {
  sf = await startServiceFixture({
    scenario: scenarioWith({ devices: OFFLINE.length, device: { availability: "offline" } }),
  });
});
afterAll(async () => sf.close());
beforeEach(() => {
  sf.fx.t.sim.reset();
  sf.fx.t.sim.setFaults({});
});

async function submitTo(
  service: LiveResponseService,
  machineId: string,
  waitMs = 0,
  signal?: AbortSignal,
): Promise<SubmittedRequest> {
  const [entry] = await service.submit(
    { machineIds: [machineId], commands: runScript, comment: "admission test" },
    { waitMs, ...(signal ? { signal } : {}) },
  );
  return entry!;
}

function actionIdOf(entry: SubmittedRequest): string {
  if (entry.action === undefined) throw new Error(`submit failed: ${String(entry.error)}`);
  return entry.action.id;
}

describe("the session cap", () => {
  it("makes a submit wait for a slot and fail with SESSION_CAP, naming the holders; a cancel frees a slot", async () => {
    const service = sf.service({ maxSessions: 2 });
    const held = [
      actionIdOf(await submitTo(service, OFFLINE[0]!)),
      actionIdOf(await submitTo(service, OFFLINE[1]!)),
    ];
    expect(service.sessions()).toMatchObject({ inUse: 2, max: 2 });
    expect(
      service
        .sessions()
        .held.map((h) => h.actionId)
        .sort(),
    ).toEqual([...held].sort());

    const refused = await submitTo(service, OFFLINE[2]!, 100);
    expect(refused.action).toBeUndefined();
    expect(refused.error).toBeInstanceOf(SessionCapError);
    const error = refused.error as SessionCapError;
    expect(error.code).toBe("SESSION_CAP");
    expect(error.message).toContain("2 of 2 live response sessions");
    for (const id of held) expect(error.message).toContain(id);
    expect(error.message).toContain("cancel actions queued on offline devices");
    expect(sf.calls().runliveresponse).toBe(2);

    await service.cancel(held[0]!, "make room");
    expect(service.sessions().inUse).toBe(1);
    expect((await submitTo(service, OFFLINE[2]!)).error).toBeUndefined();
    expect(sf.fx.t.sim.stats().maxActiveSessions).toBe(2);
  });

  it("frees the slots of finished actions with no tool call reading them", async () => {
    const service = sf.service({ maxSessions: 2 });
    actionIdOf(await submitTo(service, DEVICES.hr));
    actionIdOf(await submitTo(service, DEVICES.finance));
    // Both run on online devices and finish within milliseconds at this time scale; only the
    // tracker's own refresh can tell.
    const third = await submitTo(service, DEVICES.dc, 10_000);
    expect(third.error).toBeUndefined();
    const calls = sf.calls();
    expect(calls.getMachineAction).toBe(0);
    expect(calls.listMachineActions).toBeGreaterThan(0);
    expect(sf.fx.t.sim.stats().maxActiveSessions).toBeLessThanOrEqual(2);
  });

  it("never lets concurrent callers past the cap", async () => {
    const service = sf.service({ maxSessions: 2 });
    const online = [DEVICES.hr, DEVICES.finance, DEVICES.dc, DEVICES.appServer, DEVICES.fileServer];
    const entries = await Promise.all(online.map((id) => submitTo(service, id, 20_000)));
    for (const entry of entries) expect(entry.error).toBeUndefined();
    expect(sf.fx.t.sim.stats().maxActiveSessions).toBeLessThanOrEqual(2);
  });

  it("stops a caller waiting for a slot when its signal aborts, without sending", async () => {
    const service = sf.service({ maxSessions: 1 });
    actionIdOf(await submitTo(service, OFFLINE[0]!));
    const controller = new AbortController();
    const waiting = submitTo(service, OFFLINE[1]!, 60_000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    const entry = await waiting;
    expect(entry.error).toBeInstanceOf(DefenderNetworkError);
    expect(entry.error).toMatchObject({ code: "ABORTED", sent: false });
    expect(sf.calls().runliveresponse).toBe(1);
    expect(service.sessions().inUse).toBe(1);
  });
});

describe("queued requests", () => {
  it("keeps a request that found the cap reached in line, submits it when a slot frees, and never sends one withdrawn", async () => {
    const service = sf.service({ maxSessions: 1 });
    const holder = actionIdOf(await submitTo(service, OFFLINE[0]!));
    const queue = (machineId: string) =>
      service
        .submit(
          { machineIds: [machineId], commands: runScript, comment: "queue test" },
          { waitMs: 0, queue: true },
        )
        .then(([entry]) => entry!);
    const first = await queue(DEVICES.hr);
    expect(first).toMatchObject({ action: undefined, error: undefined });
    expect(first.queued).toMatchObject({ position: 1, of: 1, waitingFor: "session" });
    const second = await queue(DEVICES.finance);
    expect(second.queued).toMatchObject({ position: 2, of: 2, waitingFor: "session" });
    expect(service.queue().map((q) => q.requestId)).toEqual([first.requestId, second.requestId]);
    expect((await service.queuedRequest(first.requestId, { waitMs: 0 }))?.queued?.position).toBe(1);

    const withdrawn = await service.withdraw(second.requestId);
    expect(withdrawn).toMatchObject({ withdrawn: true, action: undefined });
    expect(service.queue().map((q) => q.requestId)).toEqual([first.requestId]);

    await service.cancel(holder, "make room");
    // Nothing reads the first request: the slot frees and it goes out in the background.
    expect(await service.queuedRequest(first.requestId, { waitMs: 10_000 })).toBeUndefined();
    const { action } = await service.getAction(first.requestId);
    expect(action.machineId).toBe(DEVICES.hr);
    expect(service.queue()).toEqual([]);
    expect(await service.queuedRequest(second.requestId, { waitMs: 0 })).toMatchObject({ withdrawn: true });
    expect(sf.fx.t.sim.stats().submitsAccepted).toBe(2);
    expect(sf.calls().runliveresponse).toBe(2);
  });

  it("queues a request for a busy device behind its action, and withdraws a queued request when the caller aborts before its wait ends", async () => {
    const service = sf.service();
    const holder = actionIdOf(await submitTo(service, OFFLINE[1]!));
    const [entry] = await service.submit(
      { machineIds: [OFFLINE[1]!], commands: runScript, comment: "queue test" },
      { waitMs: 0, queue: true },
    );
    expect(entry!.queued).toMatchObject({ position: 1, waitingFor: "device", busyActionId: holder });

    const controller = new AbortController();
    const aborted = service.submit(
      { machineIds: [OFFLINE[1]!], commands: runScript, comment: "queue test" },
      { waitMs: 60_000, queue: true, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 20);
    expect((await aborted)[0]!.error).toMatchObject({ code: "ABORTED", sent: false });
    expect(service.queue().map((q) => q.requestId)).toEqual([entry!.requestId]);
    service.close();
    expect(service.queue()).toEqual([]);
    expect(sf.calls().runliveresponse).toBe(1);
  });
});

describe("reconciling on start", () => {
  it("counts the actions a previous process left in flight, once, and waits for them to free a slot", async () => {
    const before = sf.service();
    const left = [await submitTo(before, OFFLINE[0]!), await submitTo(before, OFFLINE[1]!)];

    const after = sf.service({ maxSessions: 2 });
    expect(await after.reconcile()).toEqual({ adopted: 2 });
    expect(await after.reconcile()).toEqual({ adopted: 0 });
    const counts = after.sessions();
    expect(counts.inUse).toBe(2);
    expect(counts.held.map((h) => h.actionId).sort()).toEqual(left.map(actionIdOf).sort());
    // The request ids in the comments are known again.
    expect((await after.getAction(left[0]!.requestId)).action.id).toBe(actionIdOf(left[0]!));

    // Its device stays busy, and the cap is reached.
    const busy = await submitTo(after, OFFLINE[1]!);
    expect(busy.error).toBeInstanceOf(DeviceBusyError);
    expect((await submitTo(after, OFFLINE[2]!, 50)).error).toBeInstanceOf(SessionCapError);

    // A cancel by the old process is seen by the new one's refresh while a submit waits.
    const waiting = submitTo(after, OFFLINE[2]!, 10_000);
    await before.cancel(left[1]!.requestId, "restarted");
    expect((await waiting).error).toBeUndefined();
    expect(sf.calls().runliveresponse).toBe(3);
  });

  it("leaves alone actions that do not carry this server's tag", async () => {
    await sf.fx.client().runLiveResponse(OFFLINE[0]!, { commands: runScript, comment: "from the portal" });
    const service = sf.service();
    expect(await service.reconcile()).toEqual({ adopted: 0 });
    expect(service.sessions().inUse).toBe(0);
  });
});

describe("one action per device", () => {
  it("makes a second request for a busy device wait for the first to finish, then sends it", async () => {
    const service = sf.service();
    const [first, second] = await Promise.all([
      submitTo(service, DEVICES.hr, 10_000),
      submitTo(service, DEVICES.hr, 10_000),
    ]);
    expect(first!.error).toBeUndefined();
    expect(second!.error).toBeUndefined();
    expect(actionIdOf(second!)).not.toBe(actionIdOf(first!));
    // Defender never had to refuse: exactly two submits, and the first was final before the second.
    expect(sf.calls().runliveresponse).toBe(2);
    const done = await sf.fx.client().getMachineAction(actionIdOf(first!));
    expect(done.status).toBe("Succeeded");
    expect(Date.parse(second!.action!.creationDateTimeUtc!)).toBeGreaterThanOrEqual(
      Date.parse(done.lastUpdateDateTimeUtc!),
    );
  });

  it("fails the entry with the busy action's id when the wait runs out, without sending", async () => {
    const service = sf.service();
    const first = await submitTo(service, OFFLINE[0]!);
    const second = await submitTo(service, OFFLINE[0]!, 50);
    expect(second.error).toBeInstanceOf(DeviceBusyError);
    expect(second.error).toMatchObject({
      code: "ActiveRequestAlreadyExists",
      busyActionId: actionIdOf(first),
    });
    expect((second.error as Error).message).toContain("was not sent");
    expect(sf.calls().runliveresponse).toBe(1);
  });
});
