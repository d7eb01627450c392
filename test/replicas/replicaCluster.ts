import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { RunningSimulator } from "../../src/simulator/index.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { CLI_PATH } from "../../scripts/ensureBuilt.js";
import { writeApiKeysFile } from "../http/httpHarness.js";

/** Variables of the test's own environment that must not reach a replica. */
const INHERITED_OUT = [
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_SECRET",
  "MDE_CONFIG_FILE",
  "REDIS_URL",
];

export interface ReplicaOptions {
  sim: RunningSimulator;
  redisUrl: string;
  dir: string;
  timeScale: number;
  maxSessions: number;
  leaseSeconds: number;
  /** MDE_POLL_INTERVAL_SECONDS (default: the server's). */
  pollIntervalSeconds?: number;
  /** Gives each replica an audit log of its own (`auditLog`). */
  audit?: boolean;
}

/** A tool call that failed, as the tool described it. */
export interface ToolError {
  error: { code: string; message?: string };
}

/** One server process, `node dist/cli.js serve --transport http`, pointed at the test's simulator as its tenant, and an agent connected to it. */
export class Replica {
  private stderrText = "";
  client: Client | undefined;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly key: string,
    /** This replica's audit log, when it has one. */
    readonly auditLog: string | undefined,
  ) {
    child.stderr?.on("data", (d: Buffer) => (this.stderrText += d.toString()));
  }

  static async start(name: string, options: ReplicaOptions): Promise<Replica> {
    const key = randomBytes(32).toString("base64url");
    const own = join(options.dir, name);
    await mkdir(own, { recursive: true });
    const keysFile = await writeApiKeysFile(own, { [`agent-${name}`]: key });
    const inherited = { ...process.env };
    for (const variable of INHERITED_OUT) delete inherited[variable];
    const { sim } = options;
    const auditLog = options.audit ? join(own, "audit.jsonl") : undefined;
    const child = spawn(process.execPath, [CLI_PATH, "serve", "--transport", "http", "--port", "0"], {
      env: {
        ...inherited,
        AZURE_TENANT_ID: sim.tenantId,
        AZURE_CLIENT_ID: sim.clientId,
        AZURE_CLIENT_SECRET: sim.clientSecret ?? "",
        AZURE_AUTHORITY_HOST: sim.authorityHost,
        MDE_API_BASE_URL: sim.apiBase,
        NODE_EXTRA_CA_CERTS: sim.caFile,
        REDIS_URL: options.redisUrl,
        MDE_TIME_SCALE: String(options.timeScale),
        MDE_MAX_SESSIONS: String(options.maxSessions),
        MDE_LEASE_SECONDS: String(options.leaseSeconds),
        ...(options.pollIntervalSeconds === undefined
          ? {}
          : { MDE_POLL_INTERVAL_SECONDS: String(options.pollIntervalSeconds) }),
        MDE_HTTP_API_KEYS_FILE: keysFile,
        MDE_DOWNLOAD_DIR: join(own, "downloads"),
        ...(auditLog === undefined ? {} : { MDE_AUDIT_LOG: auditLog }),
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const replica = new Replica(name, child, key, auditLog);
    await replica.connect(await replica.readyUrl());
    return replica;
  }

  get stderr(): string {
    return this.stderrText;
  }

  url = "";

  /** run_live_response on `devices` without waiting: each entry submitted, queued, or refused. */
  async run(devices: readonly string[], commands: unknown[], comment: string): Promise<ActionEntry[]> {
    const result = await this.agent().callTool({
      name: "run_live_response",
      arguments: { machine_ids: devices, commands, comment, wait_seconds: 0 },
    });
    if (result.isError)
      throw new Error(`run_live_response failed: ${JSON.stringify(result.structuredContent)}`);
    return (result.structuredContent as { actions: ActionEntry[] }).actions;
  }

  /** Follows a request of this replica with get_action until it is final (or no longer Queued / in flight). */
  async followToEnd(requestId: string, finalStatuses: readonly string[]): Promise<ActionEntry> {
    for (;;) {
      const result = await this.agent().callTool({
        name: "get_action",
        arguments: { request_id: requestId, wait_seconds: 5 },
      });
      const entry = (result.structuredContent as { action?: ActionEntry } | undefined)?.action;
      if (result.isError || entry === undefined) {
        throw new Error(`get_action ${requestId} failed: ${JSON.stringify(result.structuredContent)}`);
      }
      if (finalStatuses.includes(entry.status) || entry.status === "NotSubmitted") return entry;
    }
  }

  /** get_action by request id (any replica's), waiting up to `waitSeconds`; the entry, or the tool's error. */
  async getAction(requestId: string, waitSeconds: number): Promise<ActionEntry | ToolError> {
    return this.entryOf(
      await this.agent().callTool({
        name: "get_action",
        arguments: { request_id: requestId, wait_seconds: waitSeconds },
      }),
    );
  }

  /** cancel_action by request id (any replica's): the entry, or the tool's error. */
  async cancel(requestId: string): Promise<ActionEntry | ToolError> {
    return this.entryOf(
      await this.agent().callTool({ name: "cancel_action", arguments: { request_id: requestId } }),
    );
  }

  /** True when this replica's latest word on the tenant's poller is that it leads it. */
  get leadsPolling(): boolean {
    const said = this.stderrText
      .split("\n")
      .filter((l) => l.includes("polling every replica's actions") || l.includes("no longer polling"));
    return said.at(-1)?.includes("polling every replica's actions") ?? false;
  }

  private entryOf(result: Awaited<ReturnType<Client["callTool"]>>): ActionEntry | ToolError {
    const action = (result.structuredContent as { action?: ActionEntry } | undefined)?.action;
    if (!result.isError && action !== undefined) return action;
    // A failed call says "Error <code>: <message>" in its text.
    const [first] = result.content as Array<{ type: string; text?: string }>;
    const said = /^Error (\S+): ([^\n]*)/.exec(first?.text ?? "");
    return { error: { code: said?.[1] ?? "UNKNOWN", message: said?.[2] ?? first?.text ?? "" } };
  }

  /** Defender API calls this replica sent to `endpoint` so far, as its /metrics counts them. */
  async apiCalls(endpoint: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    return text
      .split("\n")
      .filter(
        (l) => l.startsWith("mde_defender_api_endpoint_calls_total{") && l.includes(`endpoint="${endpoint}"`),
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  }

  /** /readyz, as a load balancer reads it. */
  async readiness(): Promise<{ status: number; checks: Record<string, string> }> {
    const res = await fetch(`${this.url}/readyz`);
    const body = (await res.json()) as { checks?: Record<string, string> };
    return { status: res.status, checks: body.checks ?? {} };
  }

  freeze(): void {
    this.child.kill("SIGSTOP");
  }

  thaw(): void {
    this.child.kill("SIGCONT");
  }

  /** SIGKILL: no shutdown, no lease given back. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGKILL");
    await exited;
    // The agent's transport would only meet refused connections now.
    this.client = undefined;
  }

  async stop(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    await exited;
  }

  private agent(): Client {
    if (this.client === undefined) throw new Error(`replica ${this.name} has no agent connected`);
    return this.client;
  }

  private async connect(url: string): Promise<void> {
    this.url = url;
    const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${this.key}` } },
    });
    const client = new Client({ name: `agent-${this.name}`, version: "0.0.0" });
    await client.connect(transport);
    this.client = client;
  }

  /** The URL the server logged once ready (it listens on a free port). */
  private async readyUrl(): Promise<string> {
    for (let i = 0; i < 400; i++) {
      const line = this.stderrText.split("\n").find((l) => l.includes('"msg":"MCP server ready"'));
      if (line !== undefined) return (JSON.parse(line) as { url: string }).url;
      if (this.child.exitCode !== null) {
        throw new Error(`replica ${this.name} exited ${this.child.exitCode}: ${this.stderrText}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`replica ${this.name} did not get ready: ${this.stderrText}`);
  }
}
