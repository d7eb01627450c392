/**
 * The server as an MCP client meets it: `node dist/cli.js` spawned over stdio and reached through the
 * SDK's Client and StdioClientTransport — on its embedded simulator (`--simulator`), or as against a
 * tenant, pointed at a simulator the bench runs (so the simulator's work and memory are not the server's).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { RunningSimulator } from "../src/simulator/index.js";
import { CLI_PATH } from "../scripts/ensureBuilt.js";
import { simulatorTenantEnv } from "../scripts/simulatorTenantEnv.js";

export interface StdioServer {
  client: Client;
  pid: number;
  /** Milliseconds from spawning the process to the answer to `initialize`. */
  startupMs: number;
  close(): Promise<void>;
}

export async function startStdioServer(options: {
  timeScale: number;
  /** A simulator to use as the tenant; default the server's embedded one. */
  tenant?: RunningSimulator;
}): Promise<StdioServer> {
  const downloadDir = await mkdtemp(join(tmpdir(), "mde-bench-stdio-"));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: options.tenant ? [CLI_PATH] : [CLI_PATH, "--simulator"],
    env: {
      MDE_TIME_SCALE: String(options.timeScale),
      MDE_DOWNLOAD_DIR: downloadDir,
      LOG_LEVEL: "error",
      ...(options.tenant ? simulatorTenantEnv(options.tenant) : {}),
    },
    stderr: "inherit",
  });
  const client = new Client({ name: "mde-bench", version: "0.0.0" });
  const close = async (): Promise<void> => {
    await client.close();
    await rm(downloadDir, { recursive: true, force: true });
  };
  const started = performance.now();
  try {
    // connect() spawns the process, then sends `initialize` and waits for its answer.
    await client.connect(transport);
  } catch (error) {
    await close();
    throw error;
  }
  const startupMs = performance.now() - started;
  const pid = transport.pid;
  if (pid === null) {
    await close();
    throw new Error("the stdio server exited right after initialize");
  }
  return { client, pid, startupMs, close };
}
