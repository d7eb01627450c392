/**
 * `npm run bench`: every benchmark against the simulator on a scaled clock, printed as tables and
 * saved as JSON (bench/results/latest.json). Figures are ratios, counts or latencies measured in one
 * run; goals are reported, never asserted.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { benchBatch } from "./batch.js";
import { benchBatchReplicas } from "./batchReplicas.js";
import { BENCH_SCRIPT } from "./benchTarget.js";
import { ensureBuilt } from "../scripts/ensureBuilt.js";
import { redisServerMissing } from "../scripts/redisProcess.js";
import { benchColdStart } from "./coldStart.js";
import { benchMcpOverhead } from "./mcpOverhead.js";
import { benchServerMemory } from "./serverMemory.js";
import {
  checkBatchGoals,
  checkReplicaGoals,
  printBatch,
  printColdStart,
  printGoals,
  printMemory,
  printOverhead,
  printReplicaGoals,
} from "./report.js";

const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 30);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 100);
const OVERHEAD_CALLS = 200;
const OVERHEAD_WARMUP = 20;
const COLD_START_RUNS = 5;
const REPLICAS = 3;

const note = (text: string): boolean => process.stderr.write(`bench: ${text}\n`);

// Built first, so compiling never competes with a measurement.
const build = await ensureBuilt();

note(`batch through mde-live-response-mcp (${DEVICES} devices, time scale ${TIME_SCALE})`);
const ours = await benchBatch({ devices: DEVICES, timeScale: TIME_SCALE, client: "ours" });
note("batch through the naive client");
const naive = await benchBatch({ devices: DEVICES, timeScale: TIME_SCALE, client: "naive" });
// The same batch through replicas sharing a redis-server; a machine without one skips this row, saying why.
const skipped = redisServerMissing();
let replicas: Awaited<ReturnType<typeof benchBatchReplicas>> | undefined;
if (skipped === undefined) {
  note(`batch through ${REPLICAS} HTTP replicas sharing a redis-server`);
  replicas = await benchBatchReplicas({ devices: DEVICES, timeScale: TIME_SCALE, replicas: REPLICAS });
} else {
  note(`skipping the batch through ${REPLICAS} replicas: ${skipped}`);
}
const goals = checkBatchGoals(ours);
printBatch(replicas ? [ours, replicas, naive] : [ours, naive], TIME_SCALE);
printGoals(ours, goals);
const replicaGoals = replicas && checkReplicaGoals(replicas, ours);
if (replicas && replicaGoals) printReplicaGoals(replicas, ours, replicaGoals);
else process.stdout.write(`Batch through ${REPLICAS} replicas skipped: ${skipped}\n\n`);

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
  batch: {
    devices: DEVICES,
    script: BENCH_SCRIPT,
    runs: [ours, naive],
    goals,
    replicas: replicas
      ? { replicas: REPLICAS, run: replicas, goals: replicaGoals }
      : { replicas: REPLICAS, skipped },
  },
  mcpOverhead: overhead,
  coldStart,
  memory: {
    embeddedSimulatorIdle: { medianRssBytes: coldStart.medianIdleRssBytes, rssBytes: coldStart.idleRssBytes },
    serverUnderBatch: serverMemory,
  },
};
await mkdir(new URL("./results/", import.meta.url), { recursive: true });
await writeFile(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
