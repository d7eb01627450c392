import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startHttpServe } from "../../scripts/httpServe.js";
import { simulatorTenantEnv } from "../../scripts/simulatorTenantEnv.js";
import { stopChild } from "../../scripts/stopChild.js";
import type { RunningSimulator } from "../../src/simulator/index.js";

/** Variables of the test's own environment that must not reach the server. */
const INHERITED_OUT = [
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_SECRET",
  "MDE_CONFIG_FILE",
  "REDIS_URL",
  "MDE_SIMULATOR",
];

/**
 * The product as an operator runs it: `node dist/cli.js serve --transport http` with the test's
 * simulator as its tenant, so the whole runtime is built from settings, exactly as in production.
 */
export class ServeProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    private readonly log: () => string,
    private readonly dir: string,
  ) {}

  /**
   * `env` adds settings (e.g. MDE_HTTP_API_KEYS_FILE, MDE_HTTP_OBO); the tenant's come from `sim`.
   * Downloads go to a directory of its own, removed by stop(), unless `env` names one.
   */
  static async start(sim: RunningSimulator, env: Record<string, string>): Promise<ServeProcess> {
    const inherited = { ...process.env };
    for (const variable of INHERITED_OUT) delete inherited[variable];
    const dir = await mkdtemp(join(tmpdir(), "serve-process-"));
    try {
      const server = await startHttpServe(
        {
          ...inherited,
          ...simulatorTenantEnv(sim),
          LOG_LEVEL: "info",
          MDE_DOWNLOAD_DIR: join(dir, "downloads"),
          ...env,
        },
        { keepLog: true, readyWithinMs: 20_000 },
      );
      return new ServeProcess(server.child, server.url, server.log, dir);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get stderr(): string {
    return this.log();
  }

  /** An MCP client over Streamable HTTP sending `headers` on every request. */
  async connect(headers: Record<string, string>, name = "test-agent"): Promise<Client> {
    const transport = new StreamableHTTPClientTransport(new URL(`${this.url}/mcp`), {
      requestInit: { headers },
    });
    const client = new Client({ name, version: "0.0.0" });
    await client.connect(transport);
    return client;
  }

  /** SIGTERM, as a service manager stops it. */
  async stop(): Promise<void> {
    await stopChild(this.child);
    await rm(this.dir, { recursive: true, force: true });
  }
}
