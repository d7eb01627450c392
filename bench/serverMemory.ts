/**
 * Benchmark: resident memory of the stdio server process, idle after start and under a batch. The
 * server runs as against a tenant, pointed at a simulator in the bench process with N extra devices,
 * so its RSS is the server's alone; one run_live_response call over stdio takes all N devices and
 * waits for every action to end and its result to arrive, while the server's RSS is read every 100 ms.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { isFinalActionStatus } from "../src/defender/schemas.js";
import { startSimulator } from "../src/simulator/index.js";
import { batchLowerBoundSeconds } from "./batch.js";
import {
  BENCH_SCRIPT,
  benchDeviceIds,
  benchLogger,
  scenarioWithDevices,
  scriptRunSeconds,
} from "./benchTarget.js";
import { IDLE_SETTLE_MS, processRssBytes, samplePeakRss } from "./memory.js";
import { startStdioServer } from "./stdioServer.js";

const RSS_SAMPLE_MS = 100;
/** The tool's wait, in wall-clock seconds: this many times the batch's lower bound, plus a margin. */
const WAIT_FACTOR = 3;
const WAIT_MARGIN_SECONDS = 30;

export interface ServerMemoryFigures {
  devices: number;
  idleRssBytes: number | undefined;
  peakRssBytes: number | undefined;
  samples: number;
  sampleIntervalMs: number;
  /** Wall-clock seconds the run_live_response call took. */
  callSeconds: number;
  /** Actions the call returned in a final status (all of them, unless its wait ran out). */
  actionsFinal: number;
}

export async function benchServerMemory(options: {
  devices: number;
  timeScale: number;
}): Promise<ServerMemoryFigures> {
  const scenario = scenarioWithDevices(options.devices);
  const ids = benchDeviceIds(options.devices);
  const runSeconds = scriptRunSeconds(scenario, ids, BENCH_SCRIPT);
  const lowerBound = batchLowerBoundSeconds(options.devices, runSeconds, options.timeScale);
  const waitSeconds = Math.ceil(WAIT_FACTOR * lowerBound + WAIT_MARGIN_SECONDS);
  const sim = await startSimulator({ timeScale: options.timeScale, scenario, logger: benchLogger });
  try {
    const server = await startStdioServer({ timeScale: options.timeScale, tenant: sim });
    try {
      await sleep(IDLE_SETTLE_MS);
      const idleRssBytes = await processRssBytes(server.pid);
      const sampler = samplePeakRss(server.pid, RSS_SAMPLE_MS);
      const started = performance.now();
      const result = await server.client.callTool(
        {
          name: "run_live_response",
          arguments: {
            machine_ids: ids,
            commands: [{ type: "RunScript", script_name: BENCH_SCRIPT }],
            comment: "bench memory",
            wait_seconds: waitSeconds,
          },
        },
        undefined,
        { timeout: (waitSeconds + WAIT_MARGIN_SECONDS) * 1000 },
      );
      const callSeconds = (performance.now() - started) / 1000;
      const peak = await sampler.stop();
      if (result.isError) throw new Error(`run_live_response failed: ${JSON.stringify(result.content)}`);
      const actions = (result.structuredContent as { actions?: Array<{ status?: string }> }).actions ?? [];
      return {
        devices: options.devices,
        idleRssBytes,
        peakRssBytes: peak.peakBytes,
        samples: peak.samples,
        sampleIntervalMs: RSS_SAMPLE_MS,
        callSeconds,
        actionsFinal: actions.filter((a) => isFinalActionStatus(a.status ?? "")).length,
      };
    } finally {
      await server.close();
    }
  } finally {
    await sim.close();
  }
}
