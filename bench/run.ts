/**
 * `npm run bench`: every benchmark against the simulator on a scaled clock, printed as a table and
 * saved as JSON (bench/results/latest.json). Figures are ratios or counts measured in one run, never
 * compared with wall-clock expectations.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { benchBatchSubmit } from "./batchSubmit.js";

const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 30);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 100);

const results = [];
for (const naive of [false, true]) {
  results.push(await benchBatchSubmit({ devices: DEVICES, timeScale: TIME_SCALE, naive }));
}

const rows = results.map((r) => ({
  client: r.client,
  devices: r.devices,
  "makespan / lower bound": r.ratio.toFixed(3),
  "429s received": r.throttled,
  "most submits in a 60 s window": r.maxSubmitsInAnyWindow,
  "duplicate submits": r.duplicates,
}));
process.stdout.write(
  `Batch submit: ${DEVICES} devices × one RunScript, simulator time scale ${TIME_SCALE} ` +
    `(lower bound ${results[0]?.lowerBoundSeconds.toFixed(2)} s scaled)\n`,
);
console.table(rows);
await mkdir(new URL("./results/", import.meta.url), { recursive: true });
await writeFile(
  new URL("./results/latest.json", import.meta.url),
  `${JSON.stringify({ timeScale: TIME_SCALE, batchSubmit: results }, null, 2)}\n`,
);
