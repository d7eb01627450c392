import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ensureBuilt } from "../../scripts/ensureBuilt.js";
import { startSimulator, type RunningSimulator, type Scenario } from "../../src/simulator/index.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";
import { ServeProcess } from "../helpers/serveProcess.js";
import { writeApiKeysFile } from "../http/httpHarness.js";

/** The statuses an action ends in. */
export const FINAL_STATUSES = ["Succeeded", "Failed", "TimeOut", "Cancelled"];

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

/** The entry of a tool call that must have succeeded. */
export function actionEntry(result: ActionEntry | ToolError): ActionEntry {
  if (!("status" in result)) throw new Error(`tool error ${result.error.code}: ${result.error.message}`);
  return result;
}

/** One server process, `node dist/cli.js serve --transport http`, pointed at the test's simulator as its tenant, and an agent connected to it. */
export class Replica {
  client: Client | undefined;

  private constructor(
    readonly name: string,
    private readonly server: ServeProcess,
    /** This replica's audit log, when it has one. */
    readonly auditLog: string | undefined,
  ) {}

  static async start(name: string, options: ReplicaOptions): Promise<Replica> {
    const key = randomBytes(32).toString("base64url");
    const own = join(options.dir, name);
    await mkdir(own, { recursive: true });
    const keysFile = await writeApiKeysFile(own, { [`agent-${name}`]: key });
    const auditLog = options.audit ? join(own, "audit.jsonl") : undefined;
    const server = await ServeProcess.start(options.sim, {
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
    });
    const replica = new Replica(name, server, auditLog);
    try {
      replica.client = await server.connect({ authorization: `Bearer ${key}` }, `agent-${name}`);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return replica;
  }

  private get child(): ChildProcess {
    return this.server.child;
  }

  get url(): string {
    return this.server.url;
  }

  get stderr(): string {
    return this.server.stderr;
  }

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

  /** Follows a request by id (any replica's) with get_action until it is final and sent; at most `rounds` calls. */
  async followUntilFinal(requestId: string, rounds: number): Promise<ActionEntry> {
    for (let i = 0; i < rounds; i++) {
      const seen = actionEntry(await this.getAction(requestId, 5));
      if (FINAL_STATUSES.includes(seen.status) && seen.action_id !== null) return seen;
    }
    throw new Error(`request ${requestId} did not end`);
  }

  /** cancel_action by request id (any replica's): the entry, or the tool's error. */
  async cancel(requestId: string): Promise<ActionEntry | ToolError> {
    return this.entryOf(
      await this.agent().callTool({ name: "cancel_action", arguments: { request_id: requestId } }),
    );
  }

  /** True when this replica's latest word on the tenant's poller is that it leads it. */
  get leadsPolling(): boolean {
    const said = this.stderr
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
    return (await this.metricLines("mde_defender_api_endpoint_calls_total{"))
      .filter((l) => l.includes(`endpoint="${endpoint}"`))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  }

  /** Live response sessions this replica's /metrics says it holds. */
  async sessionsInUse(): Promise<number> {
    const [line] = await this.metricLines("mde_live_response_sessions_in_use ");
    return Number(line?.slice(line.lastIndexOf(" ") + 1) ?? NaN);
  }

  private async metricLines(prefix: string): Promise<string[]> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    return text.split("\n").filter((l) => l.startsWith(prefix));
  }

  /** The records of `kind` in this replica's audit log. */
  async auditRecords(kind: string): Promise<Array<Record<string, unknown>>> {
    if (this.auditLog === undefined) throw new Error(`replica ${this.name} has no audit log`);
    return (await readFile(this.auditLog, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.kind === kind);
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
    // A frozen replica only exits once thawed.
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGCONT");
    await this.server.stop();
  }

  private agent(): Client {
    if (this.client === undefined) throw new Error(`replica ${this.name} has no agent connected`);
    return this.client;
  }
}

export interface ClusterOptions extends Omit<ReplicaOptions, "sim" | "redisUrl" | "dir"> {
  /** Names the temporary directory. */
  prefix: string;
  scenario: Scenario;
  /** One replica started per name. */
  names: readonly string[];
}

/** A simulator as the tenant, a Redis, and replicas sharing both. */
export interface ReplicaCluster {
  sim: RunningSimulator;
  redis: RedisServer;
  /** What started the replicas, for another one started later. */
  options: ReplicaOptions;
  /** Every replica close() stops, including those a test pushes later. */
  replicas: Replica[];
  close(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<ReplicaCluster> {
  await ensureBuilt();
  const { prefix, scenario, names, ...settings } = options;
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const replicas: Replica[] = [];
  let redis: RedisServer | undefined;
  let sim: RunningSimulator | undefined;
  const close = async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await sim?.close();
    await redis?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    redis = await startRedisServer();
    sim = await startSimulator({ timeScale: settings.timeScale, scenario });
    const replicaOptions: ReplicaOptions = { ...settings, sim, redisUrl: redis.url, dir };
    const started = await Promise.allSettled(names.map((name) => Replica.start(name, replicaOptions)));
    for (const outcome of started) if (outcome.status === "fulfilled") replicas.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    return { sim, redis, options: replicaOptions, replicas, close };
  } catch (error) {
    await close();
    throw error;
  }
}
