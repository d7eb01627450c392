/**
 * Benchmark: a batch of N devices × one RunScript, submitted at once and followed to completion, by
 * this server's LiveResponseService versus a naive client (as the public tools do it), against the
 * simulator on a scaled clock. Every figure comes from one run and the simulator's own counts:
 *   makespan / lower bound — first submit to last action seen final, over what the API's 10-per-60 s
 *     submit window imposes on N submits plus the script's run time;
 *   429s received, most submits in one window, duplicate actions;
 *   polling reads per completed session — GET machineactions/{id} and GET machineactions (list) calls
 *     over the actions seen final; result-link calls counted apart.
 */
import { runNaiveBatch } from "./batchNaive.js";
import { runOurBatch } from "./batchOurs.js";
import {
  BENCH_SCRIPT,
  benchDeviceIds,
  openBenchTarget,
  scenarioWithDevices,
  scriptRunSeconds,
} from "./benchTarget.js";
import type { RunningSimulator } from "../src/simulator/index.js";

const SUBMITS_PER_WINDOW = 10;
const WINDOW_SECONDS = 60;

export type BatchClient = "ours" | "naive";

/** What a client driver reports: when it started and saw the last action final, and what it saw. */
export interface BatchRun {
  /** performance.now() just before the first submit. */
  startedMs: number;
  /** performance.now() when the last submit was answered. */
  lastSubmitMs: number;
  /** performance.now() when the last action was seen final. */
  lastFinalMs: number;
  /** The final status of every action seen final. */
  finalStatuses: string[];
  /** Devices whose submit ended without an action. */
  submitFailures: number;
}

export interface BatchFigures {
  client: string;
  devices: number;
  makespanSeconds: number;
  /** First submit to the last one answered: the part of the makespan spent submitting. */
  lastSubmitSeconds: number;
  lowerBoundSeconds: number;
  /** Real-world seconds the simulator gives one device's RunScript, pickup included (part of the lower bound). */
  scriptRunSeconds: number;
  ratio: number;
  /** 429 answers on every endpoint, and per endpoint. */
  throttled: number;
  throttledByEndpoint: Record<string, number>;
  maxSubmitsInAnyWindow: number;
  duplicates: number;
  submitsAccepted: number;
  submitFailures: number;
  /** Actions seen final (any final status), and how many of them Succeeded. */
  sessionsCompleted: number;
  succeeded: number;
  pollingReads: number;
  pollingReadsPerSession: number;
  resultLinkCalls: number;
  resultLinkCallsPerSession: number;
  /** Every API call by endpoint, 429s included, from the simulator's stats. */
  calls: Record<string, number>;
}

export interface BatchOptions {
  devices: number;
  timeScale: number;
  client: BatchClient;
}

/** Scaled seconds: the last of N submits cannot start before the window lets it, then the script runs. */
export function batchLowerBoundSeconds(devices: number, runSeconds: number, timeScale: number): number {
  const lastSubmitAt = Math.floor((devices - 1) / SUBMITS_PER_WINDOW) * WINDOW_SECONDS;
  return (lastSubmitAt + runSeconds) / timeScale;
}

const perSession = (count: number, sessions: number): number =>
  sessions > 0 ? count / sessions : Number.NaN;

/** The figures of one run, from what its driver saw and the simulator's own counts. */
export function batchFigures(
  label: string,
  options: { devices: number; timeScale: number },
  sim: RunningSimulator,
  run: BatchRun,
  runSeconds: number,
): BatchFigures {
  const stats = sim.stats();
  const makespanSeconds = (run.lastFinalMs - run.startedMs) / 1000;
  const lowerBoundSeconds = batchLowerBoundSeconds(options.devices, runSeconds, options.timeScale);
  const calls = stats.calls;
  const pollingReads = (calls.getMachineAction ?? 0) + (calls.listMachineActions ?? 0);
  const resultLinkCalls = calls.getResultDownloadLink ?? 0;
  const sessionsCompleted = run.finalStatuses.length;
  return {
    client: label,
    devices: options.devices,
    makespanSeconds,
    lastSubmitSeconds: (run.lastSubmitMs - run.startedMs) / 1000,
    lowerBoundSeconds,
    scriptRunSeconds: runSeconds,
    ratio: makespanSeconds / lowerBoundSeconds,
    throttled: stats.throttledTotal,
    throttledByEndpoint: Object.fromEntries(Object.entries(stats.throttled).filter(([, n]) => n > 0)),
    maxSubmitsInAnyWindow: stats.maxSubmitsInAnyWindow,
    duplicates: stats.duplicateSubmissions,
    submitsAccepted: stats.submitsAccepted,
    submitFailures: run.submitFailures,
    sessionsCompleted,
    succeeded: run.finalStatuses.filter((s) => s === "Succeeded").length,
    pollingReads,
    pollingReadsPerSession: perSession(pollingReads, sessionsCompleted),
    resultLinkCalls,
    resultLinkCallsPerSession: perSession(resultLinkCalls, sessionsCompleted),
    calls,
  };
}

export async function benchBatch(options: BatchOptions): Promise<BatchFigures> {
  const scenario = scenarioWithDevices(options.devices);
  const ids = benchDeviceIds(options.devices);
  const runSeconds = scriptRunSeconds(scenario, ids, BENCH_SCRIPT);
  const target = await openBenchTarget({ timeScale: options.timeScale, scenario });
  try {
    await target.client.listLibraryFiles(); // token and connection warm, outside the measurement
    target.sim.reset();
    const run =
      options.client === "naive"
        ? await runNaiveBatch(target, ids, options.timeScale)
        : await runOurBatch(target.service, ids);
    const label =
      options.client === "naive" ? "naive (retry on 429, poll every 15 s)" : "mde-live-response-mcp";
    return batchFigures(label, options, target.sim, run, runSeconds);
  } finally {
    await target.close();
  }
}
