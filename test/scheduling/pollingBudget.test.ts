import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scaleMs } from "../../src/config/time.js";
import { POLLING_READ_SHARE, type LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { FollowedAction, SubmittedRequest } from "../../src/liveResponse/types.js";
import type { EndpointName } from "../../src/simulator/index.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";
import { startServiceFixture, type ServiceFixture } from "../liveResponse/serviceFixture.js";
import { HOLDING_SCRIPT, offlineDevice, onlineDevice, schedulingScenario } from "./schedulingScenario.js";
import { callsTo, maxInAnyWindow, simulatorCallLog, type SimulatorCallLog } from "./simulatorCallLog.js";

const SESSIONS = 25;
const ONLINE = Array.from({ length: SESSIONS }, (_, i) => onlineDevice(i));
const OFFLINE = Array.from({ length: SESSIONS }, (_, i) => offlineDevice(i));
/** Nine minutes: every action runs for several scaled minutes after the last one is submitted. */
const SCRIPT_SECONDS = 540;
const POLLING_READS: EndpointName[] = ["getMachineAction", "listMachineActions"];
const MINUTE_MS = scaleMs(60_000, TEST_TIME_SCALE);
const HOUR_MS = scaleMs(3_600_000, TEST_TIME_SCALE);
const commands = [{ type: "RunScript" as const, scriptName: HOLDING_SCRIPT }];

let log: SimulatorCallLog;
let sf: ServiceFixture;

beforeAll(async () => {
  log = simulatorCallLog();
  sf = await startServiceFixture({
    scenario: schedulingScenario({ online: SESSIONS, offline: SESSIONS, scriptSeconds: SCRIPT_SECONDS }),
    logger: log.logger,
  });
});
afterAll(async () => sf.close());

/** The calls the simulator answered from now on, in windows of `windowMs`: the fullest one. */
function fullestWindowFromNow(): (windowMs: number) => number {
  const from = log.calls.length;
  return (windowMs) => {
    return maxInAnyWindow(callsTo(log.calls.slice(from), POLLING_READS), windowMs);
  };
}

/**
 * 25 sessions in flight, each followed by its own caller for as long as it runs: what the API sees
 * must not grow with the callers, and must stay inside its read limits.
 */
describe("25 sessions followed by 25 concurrent callers", () => {
  let service: LiveResponseService;
  let entries: SubmittedRequest[];
  let followed: FollowedAction[][];
  /** How many reports each caller had: one per poll round it waited through, and the first. */
  let reports: number[];
  let listCallsWhileFollowing: number;
  let fullest: (windowMs: number) => number;

  beforeAll(async () => {
    sf.fx.t.sim.reset();
    fullest = fullestWindowFromNow();
    service = sf.service({ idlePollIntervalSeconds: 30 });
    entries = await service.submit(
      { machineIds: ONLINE, commands, comment: "polling budget test" },
      { waitMs: 20_000, queue: true },
    );
    const listCallsBefore = sf.calls().listMachineActions ?? 0;
    reports = ONLINE.map(() => 0);
    followed = await Promise.all(
      entries.map((entry, i) =>
        service.follow(entry.action ? [entry.action] : [], {
          waitMs: 20_000,
          onProgress: () => {
            reports[i]! += 1;
          },
        }),
      ),
    );
    listCallsWhileFollowing = (sf.calls().listMachineActions ?? 0) - listCallsBefore;
  });
  afterAll(() => service.close());

  it("follows all 25 actions to their end", () => {
    expect(entries.map((e) => e.error)).toEqual(entries.map(() => undefined));
    expect(followed.map((f) => f[0]?.action.status)).toEqual(ONLINE.map(() => "Succeeded"));
  });

  it("stays inside the read budget: at most 100 reads in any scaled minute, and no 429", () => {
    const stats = sf.fx.t.sim.stats();
    expect(stats.throttledTotal).toBe(0);
    expect(stats.maxActiveSessions).toBe(SESSIONS);
    expect(fullest(MINUTE_MS)).toBeLessThanOrEqual(100);
  });

  it("reads all 25 in one list call per poll round, whoever waits, and never one by one", () => {
    const rounds = Math.max(...reports);
    // Minutes of polling at one round per 5 s poll interval.
    expect(rounds).toBeGreaterThan(10);
    expect(sf.calls().getMachineAction).toBe(0);
    // Each caller hears of every round it waits through, so the longest waiter counts them all.
    expect(listCallsWhileFollowing).toBeLessThanOrEqual(rounds + 1);
    expect(listCallsWhileFollowing).toBeGreaterThanOrEqual(rounds - 1);
  });
});

/**
 * 25 actions queued on offline devices hold their sessions for days, and polling them must leave
 * the read budget to tool calls. With an hourly budget of 150 (a tenth of the API's, so that it binds
 * within the test), polling may spend its share of it, 75 an hour: one round every 48 s, not every
 * 5 s poll interval, and not as fast as the read limiter itself would let it.
 */
describe("25 offline sessions followed for 20 scaled minutes under an hourly read budget of 150", () => {
  const READS_PER_HOUR = 150;
  let service: LiveResponseService;
  let followed: FollowedAction[];
  let fullest: (windowMs: number) => number;
  let pollingReads: number;

  beforeAll(async () => {
    sf.fx.t.sim.reset();
    fullest = fullestWindowFromNow();
    const client = sf.fx.client({ limits: { readsPerHour: READS_PER_HOUR } });
    service = sf.service({ client, idlePollIntervalSeconds: 30 });
    const entries = await service.submit(
      { machineIds: OFFLINE, commands, comment: "hourly budget test" },
      { waitMs: 20_000, queue: true },
    );
    followed = await service.follow(
      entries.flatMap((e) => (e.action ? [e.action] : [])),
      { waitMs: HOUR_MS / 3 },
    );
    pollingReads = (sf.calls().listMachineActions ?? 0) + (sf.calls().getMachineAction ?? 0);
  });
  afterAll(() => service.close());

  it("keeps reading every action, one list call a round", () => {
    expect(followed.map((f) => f.action.status)).toEqual(OFFLINE.map(() => "Pending"));
    expect(followed.map((f) => f.pollError)).toEqual(OFFLINE.map(() => undefined));
    expect(sf.calls().getMachineAction).toBe(0);
    expect(pollingReads).toBeGreaterThan(5);
  });

  it("spends at most its share of the hourly budget, leaving the rest to tool calls", () => {
    expect(fullest(HOUR_MS)).toBeLessThanOrEqual(READS_PER_HOUR * POLLING_READ_SHARE);
    expect(sf.fx.t.sim.stats().throttledTotal).toBe(0);
  });
});
