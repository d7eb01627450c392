/**
 * `npm run bench`: every benchmark against the simulator on a scaled clock, printed as tables and
 * saved as JSON (bench/results/latest.json). Figures are ratios, counts or latencies measured in one
 * run; goals are reported, never asserted.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { benchBatch } from "./batch.js";
import { BENCH_SCRIPT } from "./benchTarget.js";
import { ensureBuilt } from "../scripts/ensureBuilt.js";
import { benchColdStart } from "./coldStart.js";
import { benchMcpOverhead } from "./mcpOverhead.js";
import { benchServerMemory } from "./serverMemory.js";
import {
  checkBatchGoals,
  printBatch,
  printColdStart,
  printGoals,
  printMemory,
  printOverhead,
} from "./report.js";

const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 30);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 100);
const OVERHEAD_CALLS = 200;
const OVERHEAD_WARMUP = 20;
const COLD_START_RUNS = 5;

const note = (text: string): boolean => process.stderr.write(`bench: ${text}\n`);

// Built first, so compiling never competes with a measurement.
const build = await ensureBuilt();

note(`batch through mde-live-response-mcp (${DEVICES} devices, time scale ${TIME_SCALE})`);
const ours = await benchBatch({ devices: DEVICES, timeScale: TIME_SCALE, client: "ours" });
note("batch through the naive client");
const naive = await benchBatch({ devices: DEVICES, timeScale: TIME_SCALE, client: "naive" });
const goals = checkBatchGoals(ours);
printBatch([ours, naive], TIME_SCALE);
printGoals(ours, goals);

note(`MCP call overhead (${OVERHEAD_CALLS} calls each)`);
const overhead = await benchMcpOverhead({ calls: OVERHEAD_CALLS, warmup: OVERHEAD_WARMUP });
printOverhead(overhead);

note(`stdio cold start (${COLD_START_RUNS} runs)`);
const coldStart = await benchColdStart({ runs: COLD_START_RUNS, timeScale: TIME_SCALE });
printColdStart(coldStart);

note(`server memory under a ${DEVICES}-device run_live_response over stdio`);
const serverMemory = await benchServerMemory({ devices: DEVICES, timeScale: TIME_SCALE });
printMemory(coldStart, serverMemory);

const results = {
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cpus: cpus().length,
  build,
  timeScale: TIME_SCALE,
  batch: { devices: DEVICES, script: BENCH_SCRIPT, runs: [ours, naive], goals },
  mcpOverhead: overhead,
  coldStart,
  memory: {
    embeddedSimulatorIdle: { medianRssBytes: coldStart.medianIdleRssBytes, rssBytes: coldStart.idleRssBytes },
    serverUnderBatch: serverMemory,
  },
};
await mkdir(new URL("./results/", import.meta.url), { recursive: true });
await writeFile(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
