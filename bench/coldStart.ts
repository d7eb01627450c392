/**
 * Benchmark: stdio cold start — `node dist/cli.js --simulator` spawned and connected with the SDK's
 * StdioClientTransport, timed from spawn to the answer to `initialize` (the server answers only once
 * its embedded simulator, token and reconcile are done). Each run also reads the server's RSS once it
 * has sat idle for a moment after start.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { IDLE_SETTLE_MS, processRssBytes } from "./memory.js";
import { median } from "./quantiles.js";
import { startStdioServer } from "./stdioServer.js";

export interface ColdStartFigures {
  runs: number;
  startupMs: number[];
  medianStartupMs: number;
  /** RSS of the stdio server process, idle after start; undefined where it cannot be read. */
  idleRssBytes: Array<number | undefined>;
  medianIdleRssBytes: number | undefined;
}

export async function benchColdStart(options: {
  runs: number;
  timeScale: number;
}): Promise<ColdStartFigures> {
  const startupMs: number[] = [];
  const idleRssBytes: Array<number | undefined> = [];
  for (let i = 0; i < options.runs; i++) {
    const server = await startStdioServer({ timeScale: options.timeScale });
    try {
      startupMs.push(server.startupMs);
      await sleep(IDLE_SETTLE_MS);
      idleRssBytes.push(await processRssBytes(server.pid));
    } finally {
      await server.close();
    }
  }
  const known = idleRssBytes.filter((b): b is number => b !== undefined);
  return {
    runs: options.runs,
    startupMs,
    medianStartupMs: median(startupMs),
    idleRssBytes,
    medianIdleRssBytes: known.length > 0 ? median(known) : undefined,
  };
}
