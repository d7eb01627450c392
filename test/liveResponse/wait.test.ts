import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LiveResponseCommand } from "../../src/defender/defenderClient.js";
import { DefenderApiError, InvalidInputError } from "../../src/defender/errors.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { WaitProgress } from "../../src/liveResponse/types.js";
import { DEVICES, SCRIPT, rejectionOf } from "../defender/clientFixture.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

let sf: ServiceFixture;
let service: LiveResponseService;

beforeAll(async () => {
  sf = await startServiceFixture();
});
afterAll(async () => sf.close());
beforeEach(() => {
  // A service per test: the sessions and devices it holds would outlive the simulator's reset.
  service = sf.service();
  sf.fx.t.sim.reset();
  sf.fx.t.sim.setFaults({});
});
afterEach(async () => {
  service.close();
  // A poll round still in flight would land after the next test's reset and count as its call.
  await service.flush();
});

async function submitOne(machineId: string, commands: LiveResponseCommand[]): Promise<string> {
  const [entry] = await service.submit({ machineIds: [machineId], commands, comment: "wait test" });
  if (entry?.action === undefined) throw new Error(`submit failed: ${String(entry?.error)}`);
  return entry.action.id;
}

describe("waitForFinal", () => {
  it("follows an action to Succeeded, reporting progress after every poll round", async () => {
    const id = await submitOne(DEVICES.finance, [{ type: "RunScript", scriptName: SCRIPT }]);
    const progress: WaitProgress[] = [];
    const [action] = await service.waitForFinal([id], {
      waitMs: 20_000,
      onProgress: (p) => progress.push(p),
    });
    expect(action!.status).toBe("Succeeded");
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) expect(p.total).toBe(1);
    const last = progress[progress.length - 1]!;
    expect(last.done).toBe(1);
    expect(last.actions[0]!.id).toBe(id);
    expect(last.message).toBe("fin-ws-0142.contoso.com: Succeeded");
    // One list call per round and none after the action was final; the first report costs no read
    // while the submit's answer is still fresh (on a loaded machine it may not be).
    expect(sf.calls().listMachineActions).toBeGreaterThanOrEqual(progress.length - 1);
    expect(sf.calls().listMachineActions).toBeLessThanOrEqual(progress.length);
    expect(sf.calls().getMachineAction).toBe(0);
  });

  it("ends Failed at the first failing command; the command after it is not run", async () => {
    const id = await submitOne(DEVICES.finance, [
      { type: "RunScript", scriptName: "Failing-Script.ps1" },
      { type: "GetFile", path: "C:\\Windows\\Temp\\IR\\EventLogs.zip" },
    ]);
    const [action] = await service.waitForFinal([id], { waitMs: 20_000 });
    expect(action!.status).toBe("Failed");
    const results = await service.commandResults(action!);
    expect(results).toEqual([
      {
        type: "RunScript",
        index: 0,
        reason: expect.stringContaining(
          "failed with errors: Script execution failed: Requested registry access",
        ),
      },
      { type: "GetFile", index: 1, reason: expect.stringContaining("not run because command 0 failed") },
    ]);
    expect(sf.calls().getResultDownloadLink).toBe(0);
  });

  it("ends TimeOut when a script runs past the 10-minute limit", async () => {
    const id = await submitOne(DEVICES.finance, [{ type: "RunScript", scriptName: "Long-Running.ps1" }]);
    const [action] = await service.waitForFinal([id], { waitMs: 20_000 });
    expect(action!.status).toBe("TimeOut");
    const [result] = await service.commandResults(action!);
    expect(result).toMatchObject({ index: 0, reason: expect.stringContaining("timed out") });
  });

  it("returns an offline device's action still Pending when the wait runs out", async () => {
    const id = await submitOne(DEVICES.offlineKiosk, [{ type: "RunScript", scriptName: SCRIPT }]);
    const progress: WaitProgress[] = [];
    const [action] = await service.waitForFinal([id], { waitMs: 150, onProgress: (p) => progress.push(p) });
    expect(action!.status).toBe("Pending");
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const p of progress) {
      expect(p.done).toBe(0);
      expect(p.message).toBe("kiosk-lobby-01.contoso.com: Pending, waiting for the device to pick it up");
    }
    const [result] = await service.commandResults(action!);
    expect(result).toMatchObject({ reason: expect.stringContaining("not run yet: the action is Pending") });
  });

  it("without waiting (waitMs 0) reads an action it knows no fresh state of once, and a fresh one not at all", async () => {
    // A poll interval of an hour (6 s at this scale): the submit's answer stays fresh however slow the machine.
    service.close();
    service = sf.service({ pollIntervalSeconds: 3600 });
    const id = await submitOne(DEVICES.offlineKiosk, [{ type: "RunScript", scriptName: SCRIPT }]);
    const [fresh] = await service.waitForFinal([id], { waitMs: 0 });
    expect(fresh!.status).toBe("Pending");
    expect(sf.calls().listMachineActions ?? 0).toBe(0);
    const other = sf.service();
    try {
      const [read] = await other.waitForFinal([id], { waitMs: 0 });
      expect(read!.status).toBe("Pending");
      expect(sf.calls().listMachineActions).toBe(1);
      expect(sf.calls().getMachineAction).toBe(0);
    } finally {
      other.close();
    }
  });

  it("returns the latest state at once when the signal aborts mid-wait", async () => {
    const id = await submitOne(DEVICES.offlineKiosk, [{ type: "RunScript", scriptName: SCRIPT }]);
    const controller = new AbortController();
    let rounds = 0;
    // A minute of waiting that the abort must cut short (the test would time out otherwise).
    const [action] = await service.waitForFinal([id], {
      waitMs: 60_000,
      signal: controller.signal,
      onProgress: () => {
        if (++rounds === 2) controller.abort();
      },
    });
    expect(action!.status).toBe("Pending");
    expect(rounds).toBe(2);
  });

  it("follows several actions and says how many are final", async () => {
    const done = await submitOne(DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    const queued = await submitOne(DEVICES.offlineKiosk, [{ type: "RunScript", scriptName: SCRIPT }]);
    const progress: WaitProgress[] = [];
    const controller = new AbortController();
    // The queued one never finishes: stop once the other has.
    const actions = await service.waitForFinal([done, queued], {
      waitMs: 60_000,
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p);
        if (p.done === 1) controller.abort();
      },
    });
    expect(actions.map((a) => a.status)).toEqual(["Succeeded", "Pending"]);
    expect(progress[progress.length - 1]!.message).toBe(
      "1 of 2 actions final; hr-ws-0087.contoso.com: Succeeded; kiosk-lobby-01.contoso.com: Pending, waiting for the device to pick it up",
    );
  });

  it("keeps waiting through transient poll failures", async () => {
    const id = await submitOne(DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    sf.fx.t.sim.setFaults({ errorRate: 1, errorStatus: 503, endpoints: ["listMachineActions"] });
    const progress: WaitProgress[] = [];
    const [action] = await service.waitForFinal([id], {
      waitMs: 20_000,
      onProgress: (p) => {
        progress.push(p);
        // The first report is the submit's answer; the round after it fails, then polls succeed.
        if (progress.length === 2) sf.fx.t.sim.setFaults({});
      },
    });
    expect(action!.status).toBe("Succeeded");
    expect(progress[1]!.actions.map((a) => a.status)).toEqual([progress[0]!.actions[0]!.status]);
    expect(sf.fx.t.sim.stats().faultsInjected.errors).toBeGreaterThan(0);
  });

  it("refuses a wait that is negative or not finite, and a malformed action id, without a call", async () => {
    const id = randomUUID();
    for (const waitMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = await rejectionOf(service.waitForFinal([id], { waitMs }));
      expect((error as InvalidInputError).field).toBe("waitMs");
    }
    const malformed = await rejectionOf(service.waitForFinal([id, "nope"], { waitMs: 0 }));
    expect((malformed as InvalidInputError).field).toBe("action_ids[1]");
    expect(sf.totalCalls()).toBe(0);
  });

  it("throws when an action does not exist: waiting cannot fix a 404", async () => {
    const error = await rejectionOf(service.waitForFinal([randomUUID()], { waitMs: 20_000 }));
    expect(error).toBeInstanceOf(DefenderApiError);
    expect((error as DefenderApiError).status).toBe(404);
  });
});

describe("follow", () => {
  it("never loses an action to a failed poll: it keeps the state it was given, with the failure", async () => {
    const [entry] = await service.submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: "follow test",
    });
    const submitted = entry!.action!;
    sf.fx.t.sim.setFaults({ errorRate: 1, errorStatus: 503, endpoints: ["listMachineActions"] });
    const [followed] = await service.follow([submitted], { waitMs: 200 });
    expect(followed!.action).toBe(submitted);
    expect(followed!.pollError).toBeInstanceOf(DefenderApiError);
    expect((followed!.pollError as DefenderApiError).status).toBe(503);
  });

  it("stops polling an action that waiting cannot fix, and follows the others to the end", async () => {
    const real = await submitOne(DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    const { action: known } = await service.getAction(real);
    const missing = { ...known, id: randomUUID() };
    const followed = await service.follow([missing, known], { waitMs: 20_000 });
    expect(followed[0]!.action).toBe(missing);
    expect((followed[0]!.pollError as DefenderApiError).status).toBe(404);
    expect(followed[1]!.action.status).toBe("Succeeded");
    expect(followed[1]!.pollError).toBeUndefined();
  });

  it("does not poll an action it was given as final", async () => {
    const id = await submitOne(DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    const [done] = await service.waitForFinal([id], { waitMs: 20_000 });
    const reads = sf.totalCalls();
    const [followed] = await service.follow([done!], { waitMs: 20_000 });
    expect(followed).toEqual({ action: done, pollError: undefined });
    expect(sf.totalCalls()).toBe(reads);
  });
});
