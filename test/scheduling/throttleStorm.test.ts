import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scaleMs } from "../../src/config/time.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { FollowedAction, SubmittedRequest } from "../../src/liveResponse/types.js";
import type { EndpointName } from "../../src/simulator/index.js";
import { startServiceFixture, type ServiceFixture } from "../liveResponse/serviceFixture.js";
import { HOLDING_SCRIPT, onlineDevice, schedulingScenario } from "./schedulingScenario.js";
import { simulatorCallLog, type SimulatorCall, type SimulatorCallLog } from "./simulatorCallLog.js";
import { actionsOnDevices, actionsTagged } from "./taggedActions.js";

/**
 * A minute of 1 s: the batch's first burst surely meets the storm whatever the first TLS connections
 * cost, and a client that kept sending would have time for many calls.
 */
const TIME_SCALE = 60;
const BATCH = 15;
const DEVICES = Array.from({ length: BATCH }, (_, i) => onlineDevice(i));
const STORM_SECONDS = 60;
const STORM_MS = scaleMs(STORM_SECONDS * 1000, TIME_SCALE);
/** The submit limiter lets a window's worth out together, before any answer can close its gate. */
const SUBMIT_BURST = 10;
const READ_ENDPOINTS: EndpointName[] = [
  "getMachineAction",
  "listMachineActions",
  "getResultDownloadLink",
  "getMachine",
  "listMachines",
];
const commands = [{ type: "RunScript" as const, scriptName: HOLDING_SCRIPT }];

/**
 * The simulator's storm fault answers every call 429 with a Retry-After of the time the storm has
 * left, so after the calls already in flight when the first 429 arrives, a client that honours it
 * sends one probe per Retry-After period: one here, and one more if its clock opened the gate a
 * moment before the simulator's closed.
 */
const PROBES_PER_STORM = 1 + 1;

let log: SimulatorCallLog;
let sf: ServiceFixture;

beforeAll(async () => {
  log = simulatorCallLog();
  sf = await startServiceFixture({
    scenario: schedulingScenario({ online: BATCH, scriptSeconds: 30 }),
    logger: log.logger,
    timeScale: TIME_SCALE,
  });
  // One token up front, so the batch is not also a race for the first token.
  await sf.fx.tokenProvider.getToken();
});
afterAll(async () => sf.close());

/** A fresh service and simulator state for one storm. */
function freshService(): LiveResponseService {
  sf.fx.t.sim.reset();
  return sf.service({ idlePollIntervalSeconds: 30 });
}

describe("a 429 storm on runliveresponse for a scaled minute, while a batch of 15 is submitted", () => {
  let service: LiveResponseService;
  let entries: SubmittedRequest[];
  let inStorm: SimulatorCall[];

  beforeAll(async () => {
    service = freshService();
    const start = performance.now();
    sf.fx.t.sim.setFaults({ tooManyRequestsForSeconds: STORM_SECONDS, endpoints: ["runliveresponse"] });
    entries = await service.submit(
      { machineIds: DEVICES, commands, comment: "storm test" },
      { waitMs: 20_000, queue: true },
    );
    inStorm = log.between(["runliveresponse"], start, start + STORM_MS);
  });
  afterAll(() => service.close());

  it("sends into the storm only the first burst and one probe per Retry-After", () => {
    expect(inStorm.length).toBeGreaterThan(0);
    expect(inStorm.every((c) => c.status === 429)).toBe(true);
    expect(sf.fx.t.sim.stats().faultsInjected.throttled).toBe(inStorm.length);
    expect(inStorm.length).toBeLessThanOrEqual(SUBMIT_BURST + PROBES_PER_STORM);
  });

  it("creates no action twice, and reports no device NotSubmitted whose action was created", () => {
    expect(sf.fx.t.sim.stats().duplicateSubmissions).toBe(0);
    for (const entry of entries) {
      if (entry.action === undefined) expect(actionsTagged(sf.fx.t.sim, entry.requestId)).toEqual([]);
      else expect(actionsTagged(sf.fx.t.sim, entry.requestId)).toEqual([entry.action.id]);
    }
  });

  it("loses no device: a submit refused with 429 keeps its place and every device ends with exactly one action", () => {
    const refused = entries.filter((e) => e.action === undefined);
    expect(refused.map((e) => (e.error as Error | undefined)?.message)).toEqual([]);
    const onDevices = actionsOnDevices(sf.fx.t.sim, DEVICES);
    entries.forEach((entry, i) => {
      expect(onDevices[i]!.actions).toEqual([
        expect.objectContaining({ id: entry.action?.id, requestIds: [entry.requestId] }),
      ]);
    });
  });
});

describe("a 429 storm on the read endpoints for a scaled minute, while a batch of 15 is followed", () => {
  let service: LiveResponseService;
  let entries: SubmittedRequest[];
  let followed: FollowedAction[];
  let inStorm: SimulatorCall[];

  beforeAll(async () => {
    service = freshService();
    entries = await service.submit(
      { machineIds: DEVICES, commands, comment: "storm test" },
      { waitMs: 20_000, queue: true },
    );
    // The storm begins as the follow does: only the shared poller reads, at most one list call in flight.
    let start: number | undefined;
    followed = await service.follow(
      entries.flatMap((e) => (e.action ? [e.action] : [])),
      {
        waitMs: 20_000,
        onProgress: () => {
          if (start !== undefined) return;
          start = performance.now();
          sf.fx.t.sim.setFaults({ tooManyRequestsForSeconds: STORM_SECONDS, endpoints: READ_ENDPOINTS });
        },
      },
    );
    inStorm = log.between(READ_ENDPOINTS, start!, start! + STORM_MS);
  });
  afterAll(() => service.close());

  it("follows every action of the batch to its final state", () => {
    expect(entries.map((e) => e.error)).toEqual(entries.map(() => undefined));
    expect(followed).toHaveLength(BATCH);
    for (const { action, pollError } of followed) {
      expect(action.status).toBe("Succeeded");
      expect(pollError).toBeUndefined();
    }
  });

  it("sends into the storm only the read in flight and one probe per Retry-After", () => {
    expect(inStorm.length).toBeGreaterThan(0);
    expect(inStorm.every((c) => c.status === 429)).toBe(true);
    expect(inStorm.length).toBeLessThanOrEqual(1 + PROBES_PER_STORM);
  });
});
