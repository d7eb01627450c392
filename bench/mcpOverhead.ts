/**
 * Benchmark: what the MCP layer adds to a read. The same read (find_machines by name, one list call)
 * is timed as a direct DefenderClient call and as a tool call through the SDK's Client, alternating,
 * N times each after a warm-up:
 *   in memory — createMcpServer on the bench's runtime parts, linked by InMemoryTransport;
 *   stdio — `node dist/cli.js --simulator` in a child process (its own embedded simulator, the same
 *     demo tenant the direct calls read).
 * The clock runs so fast that no limiter window ever delays a call: the figures are the layer, not
 * the API budget.
 */
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { filter } from "../src/defender/odataQuery.js";
import { createMcpServer } from "../src/server/createMcpServer.js";
import { openBenchTarget, type BenchTarget } from "./benchTarget.js";
import { median, quantile } from "./quantiles.js";
import { startStdioServer } from "./stdioServer.js";

/** 60 s windows last 1 ms: 100 reads a "minute" is far more than sequential calls can make. */
const OVERHEAD_TIME_SCALE = 60_000;
const DEVICE_PREFIX = "fin-ws";
/** find_machines' default `top`, so the direct call sends the same query the tool does. */
const FIND_TOP = 25;

export interface Latency {
  medianMs: number;
  p99Ms: number;
}

export interface OverheadRow {
  operation: string;
  transport: "in-memory" | "stdio";
  calls: number;
  direct: Latency;
  mcp: Latency;
  medianRatio: number;
  p99Ratio: number;
  /** API calls one tool call made, from the simulator's counts; null where the simulator is in another process. */
  apiCallsPerToolCall: number | null;
}

export interface OverheadFigures {
  timeScale: number;
  warmup: number;
  rows: OverheadRow[];
}

type Call = () => Promise<unknown>;

function latency(samples: number[]): Latency {
  return { medianMs: median(samples), p99Ms: quantile(samples, 0.99) };
}

async function timed(call: Call): Promise<number> {
  const started = performance.now();
  await call();
  return performance.now() - started;
}

/** Alternates the two calls so drift (GC, JIT, the other process) falls on both alike. */
async function measurePair(
  direct: Call,
  viaMcp: Call,
  calls: number,
  warmup: number,
): Promise<{ direct: number[]; mcp: number[] }> {
  for (let i = 0; i < warmup; i++) {
    await direct();
    await viaMcp();
  }
  const samples = { direct: [] as number[], mcp: [] as number[] };
  for (let i = 0; i < calls; i++) {
    samples.direct.push(await timed(direct));
    samples.mcp.push(await timed(viaMcp));
  }
  return samples;
}

function toolCall(mcp: Client, name: string, args: Record<string, unknown>): Call {
  return async () => {
    const result = await mcp.callTool({ name, arguments: args });
    if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  };
}

function row(
  operation: string,
  transport: OverheadRow["transport"],
  samples: { direct: number[]; mcp: number[] },
  apiCallsPerToolCall: number | null,
): OverheadRow {
  const direct = latency(samples.direct);
  const mcp = latency(samples.mcp);
  return {
    operation,
    transport,
    calls: samples.mcp.length,
    direct,
    mcp,
    medianRatio: mcp.medianMs / direct.medianMs,
    p99Ratio: mcp.p99Ms / direct.p99Ms,
    apiCallsPerToolCall,
  };
}

const totalCalls = (target: BenchTarget): number =>
  Object.values(target.sim.stats().calls).reduce((a, b) => a + b, 0);

/** Measures a pair against the in-process simulator; each direct call is one API call, the rest are the tool's. */
async function inMemoryRow(
  target: BenchTarget,
  operation: string,
  direct: Call,
  viaMcp: Call,
  calls: number,
  warmup: number,
): Promise<OverheadRow> {
  const before = totalCalls(target);
  const samples = await measurePair(direct, viaMcp, calls, warmup);
  const rounds = calls + warmup;
  return row(operation, "in-memory", samples, (totalCalls(target) - before - rounds) / rounds);
}

export async function benchMcpOverhead(options: { calls: number; warmup: number }): Promise<OverheadFigures> {
  const { calls, warmup } = options;
  const target = await openBenchTarget({ timeScale: OVERHEAD_TIME_SCALE });
  const server = createMcpServer(target.deps);
  const mcp = new Client({ name: "mde-bench", version: "0.0.0" });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const rows: OverheadRow[] = [];
  try {
    await Promise.all([server.connect(serverSide), mcp.connect(clientSide)]);
    const findArgs = { name: DEVICE_PREFIX };
    const listDirect: Call = () =>
      target.client.listMachines({
        filter: filter.startsWith("computerDnsName", DEVICE_PREFIX),
        top: FIND_TOP,
      });
    rows.push(
      await inMemoryRow(
        target,
        "find_machines",
        listDirect,
        toolCall(mcp, "find_machines", findArgs),
        calls,
        warmup,
      ),
    );

    const stdio = await startStdioServer({ timeScale: OVERHEAD_TIME_SCALE });
    try {
      const samples = await measurePair(
        listDirect,
        toolCall(stdio.client, "find_machines", findArgs),
        calls,
        warmup,
      );
      rows.push(row("find_machines", "stdio", samples, null));
    } finally {
      await stdio.close();
    }
    return { timeScale: OVERHEAD_TIME_SCALE, warmup, rows };
  } finally {
    await mcp.close();
    await server.close();
    await target.close();
  }
}
