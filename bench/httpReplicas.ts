/**
 * A shared deployment as the bench runs it: a redis-server of its own on a free loopback port, and N
 * `node dist/cli.js serve --transport http` replicas sharing it, each pointed at a simulator the bench
 * runs as their tenant and reached by an MCP client over Streamable HTTP.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { RunningSimulator } from "../src/simulator/index.js";
import { freePort } from "../scripts/freePort.js";
import { startHttpServe } from "../scripts/httpServe.js";
import { simulatorTenantEnv } from "../scripts/simulatorTenantEnv.js";
import { spawnRedisServer } from "../scripts/redisProcess.js";
import { stopChild } from "../scripts/stopChild.js";

export interface Deployment {
  /** One connected MCP client per replica. */
  agents: Client[];
  close(): Promise<void>;
}

export async function startDeployment(options: {
  sim: RunningSimulator;
  replicas: number;
  timeScale: number;
}): Promise<Deployment> {
  const dir = await mkdtemp(join(tmpdir(), "mde-bench-replicas-"));
  const children: ChildProcess[] = [];
  const agents: Client[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
    await Promise.all(children.map(stopChild));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const redisPort = await freePort();
    const redis = await spawnRedisServer(redisPort, dir);
    children.push(redis.child);
    const { sim } = options;
    const replicas = await Promise.all(
      Array.from({ length: options.replicas }, (_, i) =>
        startHttpServe(
          {
            ...process.env,
            ...simulatorTenantEnv(sim),
            REDIS_URL: `redis://127.0.0.1:${redisPort}`,
            MDE_TIME_SCALE: String(options.timeScale),
            MDE_DOWNLOAD_DIR: join(dir, `replica-${i}`),
            LOG_LEVEL: "info",
          },
          { keepLog: false },
        ),
      ),
    );
    children.push(...replicas.map((r) => r.child));
    for (const [i, replica] of replicas.entries()) {
      const client = new Client({ name: `bench-agent-${i}`, version: "0.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${replica.url}/mcp`)));
      agents.push(client);
    }
    return { agents, close };
  } catch (error) {
    await close();
    throw error;
  }
}
