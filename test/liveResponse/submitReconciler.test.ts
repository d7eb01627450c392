import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DefenderApiError } from "../../src/defender/errors.js";
import type { MachineAction } from "../../src/defender/schemas.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import { correlationTag } from "../../src/liveResponse/requestIds.js";
import { SubmitOutcomeUnknownError, SubmitReconciler } from "../../src/liveResponse/submitReconciler.js";
import type { SubmittedRequest } from "../../src/liveResponse/types.js";
import type { FaultsInput } from "../../src/simulator/index.js";
import { DEVICES, SCRIPT, quietLogger } from "../defender/clientFixture.js";
import { generatedDeviceId, scenarioWith } from "../helpers/simulatorHarness.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

const RUNS = 30;
const runScript = [{ type: "RunScript" as const, scriptName: SCRIPT }];

let sf: ServiceFixture;
let service: LiveResponseService;

beforeAll(async () => {
  sf = await startServiceFixture({ scenario: scenarioWith({ devices: RUNS }) });
});
afterAll(async () => sf.close());
beforeEach(() => {
  service = sf.service();
  sf.fx.t.sim.reset();
  sf.fx.t.sim.setFaults({});
});

async function submitWith(
  faults: FaultsInput,
  machineId: string = DEVICES.offlineKiosk,
): Promise<SubmittedRequest> {
  sf.fx.t.sim.setFaults({ ...faults, endpoints: ["runliveresponse"] });
  const [entry] = await service.submit(
    { machineIds: [machineId], commands: runScript, comment: "reconcile test" },
    { waitMs: 10_000 },
  );
  sf.fx.t.sim.setFaults({});
  return entry!;
}

/** Every action in the simulator, read with a client of its own after the faults are cleared. */
async function allActions(): Promise<MachineAction[]> {
  return (await sf.fx.client().listMachineActions()).items;
}

function withTag(actions: readonly MachineAction[], entry: SubmittedRequest): MachineAction[] {
  return actions.filter((a) => a.requestorComment?.includes(correlationTag(entry.requestId)));
}

describe("a submit whose answer is lost", () => {
  for (const [name, faults] of [
    ["a reset", { resetRate: 1, afterProcessing: true }],
    ["a 500", { errorRate: 1, errorStatus: 500, afterProcessing: true }],
    ["a bad body", { malformedBodyRate: 1 }],
  ] as const) {
    it(`adopts the action it created after ${name}, found by its tag, and sends nothing more`, async () => {
      const entry = await submitWith(faults);
      expect(entry.error).toBeUndefined();
      expect(entry.recovered).toBe(true);
      expect(entry.merged).toBe(false);
      const tagged = withTag(await allActions(), entry);
      expect(tagged.map((a) => a.id)).toEqual([entry.action!.id]);
      expect(sf.calls()).toMatchObject({ runliveresponse: 1, listMachineActions: 2 });
      expect(sf.fx.t.sim.stats().duplicateSubmissions).toBe(0);
      // The adopted action (queued on an offline device) holds its session and answers to its request id.
      expect(service.sessions().held.map((h) => h.actionId)).toContain(entry.action!.id);
      expect((await service.getAction(entry.requestId)).action.id).toBe(entry.action!.id);
    });
  }

  it("sends once more, after looking twice, when the first submit never reached Defender", async () => {
    // With this seed the first submit draws the 503 and the second does not.
    const entry = await submitWith({ errorRate: 0.5, errorStatus: 503, seed: 8 });
    expect(entry.error).toBeUndefined();
    expect(entry.recovered).toBe(false);
    expect(withTag(await allActions(), entry)).toHaveLength(1);
    expect(sf.fx.t.sim.stats()).toMatchObject({
      calls: { runliveresponse: 2 },
      faultsInjected: { errors: 1 },
      duplicateSubmissions: 0,
    });
    // The two looks before the second send, and the one listing above.
    expect(sf.calls().listMachineActions).toBe(3);
  });

  it("reports the outcome as unknown after a second unclear failure, and never sends a third time", async () => {
    const entry = await submitWith({ errorRate: 1, errorStatus: 503 });
    expect(entry.action).toBeUndefined();
    expect(entry.error).toBeInstanceOf(SubmitOutcomeUnknownError);
    const error = entry.error as SubmitOutcomeUnknownError;
    expect(error.code).toBe("SUBMIT_OUTCOME_UNKNOWN");
    expect(error.message).toContain("outcome unknown");
    expect(error.message).toContain(correlationTag(entry.requestId));
    expect(error.message).toContain("check the device's actions with get_action or find before retrying");
    expect(sf.calls()).toMatchObject({ runliveresponse: 2, listMachineActions: 3 });
    expect(withTag(await allActions(), entry)).toEqual([]);
    // Its slot and device are free again.
    expect(service.sessions().inUse).toBe(0);
  });

  it("never looks up or re-sends a submit that certainly did not execute", async () => {
    const [entry] = await service.submit(
      {
        machineIds: [DEVICES.finance],
        commands: [{ type: "RunScript", scriptName: "No-Such.ps1" }],
        comment: "x",
      },
      { waitMs: 1_000 },
    );
    expect(entry!.error).toBeInstanceOf(DefenderApiError);
    expect((entry!.error as DefenderApiError).status).toBe(404);
    expect(sf.calls()).toMatchObject({ runliveresponse: 1, listMachineActions: 0 });
    expect(service.sessions().inUse).toBe(0);
  });

  it(`never makes two actions with one tag over ${RUNS} randomized runs of resets and 5xx`, async () => {
    const statuses = [500, 502, 503, 504] as const;
    const entries: SubmittedRequest[] = [];
    for (let run = 0; run < RUNS; run++) {
      const rate = [0.3, 0.6, 1][run % 3]!;
      const faults: FaultsInput = {
        seed: 1_000 + run,
        afterProcessing: run % 2 === 0,
        ...(Math.floor(run / 2) % 2 === 0
          ? { resetRate: rate, errorRate: rate / 2, errorStatus: statuses[run % 4]! }
          : { errorRate: rate, errorStatus: statuses[(run + 1) % 4]! }),
      };
      entries.push(await submitWith(faults, generatedDeviceId(run)));
    }
    const actions = await allActions();
    for (const entry of entries) {
      const tagged = withTag(actions, entry);
      expect(tagged).toHaveLength(entry.action ? 1 : 0);
      if (entry.action) expect(tagged[0]!.id).toBe(entry.action.id);
      else expect(entry.error).toBeInstanceOf(SubmitOutcomeUnknownError);
    }
    const stats = sf.fx.t.sim.stats();
    expect(stats.duplicateSubmissions).toBe(0);
    // The runs did meet faults of both kinds, before and after Defender acted.
    expect(stats.faultsInjected.resets).toBeGreaterThan(0);
    expect(stats.faultsInjected.errors).toBeGreaterThan(0);
    expect(entries.some((e) => e.recovered)).toBe(true);
    expect(stats.throttledTotal).toBe(0);
  });
});

describe("a submit a replica that died may have sent", () => {
  const reconciler = () =>
    new SubmitReconciler({ client: sf.fx.client(), lookAgainAfterMs: 1, logger: quietLogger });

  it("is found by its tag and not sent again", async () => {
    const [sent] = await service.submit(
      { machineIds: [DEVICES.offlineKiosk], commands: runScript, comment: "sent before dying" },
      { waitMs: 10_000 },
    );
    const tag = correlationTag(sent!.requestId);
    const outcome = await reconciler().submitUnlessFound(
      DEVICES.offlineKiosk,
      { commands: runScript, comment: `sent before dying ${tag}` },
      tag,
      Date.now(),
    );
    expect(outcome).toMatchObject({ recovered: true, action: { id: sent!.action!.id } });
    expect(sf.calls().runliveresponse).toBe(1);
  });

  it("is sent, once, when no action carries its tag", async () => {
    const tag = correlationTag("req_0123456789ab");
    const outcome = await reconciler().submitUnlessFound(
      DEVICES.offlineKiosk,
      { commands: runScript, comment: `never sent ${tag}` },
      tag,
      Date.now(),
    );
    expect(outcome.recovered).toBe(false);
    expect((await allActions()).filter((a) => a.requestorComment?.includes(tag)).map((a) => a.id)).toEqual([
      outcome.action.id,
    ]);
    expect(sf.calls()).toMatchObject({ runliveresponse: 1, listMachineActions: 3 });
  });
});
