/**
 * The batch of batch.ts through a shared deployment: N `serve --transport http` replicas sharing one
 * redis-server, the devices spread over one agent per replica. Each agent sends its share in one
 * run_live_response (queued past the budget, not failed) and follows every request with get_action
 * until it is final. The replicas together must keep the tenant's limits, so the ratio to the lower
 * bound (the same one: one tenant's submit window) and the 429s compare directly with one replica's.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { isFinalActionStatus } from "../src/defender/schemas.js";
import { startSimulator } from "../src/simulator/index.js";
import type { ActionEntry } from "../src/tools/actionEntry.js";
import { batchFigures, type BatchFigures, type BatchRun } from "./batch.js";
import {
  BENCH_SCRIPT,
  benchDeviceIds,
  benchLogger,
  scenarioWithDevices,
  scriptRunSeconds,
} from "./benchTarget.js";
import { startDeployment } from "./httpReplicas.js";

/** The API's submit window, real ms. */
const WINDOW_MS = 60_000;
/** Wall-clock seconds one get_action waits; the agent calls again until the action is final. */
const FOLLOW_WAIT_SECONDS = 30;

export interface ReplicaBatchOptions {
  devices: number;
  timeScale: number;
  replicas: number;
}

async function callTool(agent: Client, name: string, args: Record<string, unknown>): Promise<unknown> {
  const result = await agent.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent;
}

/** Follows one request to its end; resolves with its final status, or undefined when it was never submitted. */
async function follow(agent: Client, entry: ActionEntry): Promise<string | undefined> {
  let current = entry;
  for (;;) {
    if (current.status === "NotSubmitted") return undefined;
    if (isFinalActionStatus(current.status)) return current.status;
    const id = current.action_id ?? current.request_id;
    const args = current.action_id ? { action_id: id } : { request_id: id };
    const answer = (await callTool(agent, "get_action", { ...args, wait_seconds: FOLLOW_WAIT_SECONDS })) as {
      action: ActionEntry;
    };
    current = answer.action;
  }
}

/**
 * A fresh Redis holds no submit log, and the replicas wait out one full window before they trust an
 * empty one (a Redis that lost its log must not reopen the window early): a cost paid once per Redis,
 * not per batch. One warm-up submit, on a device outside the batch, pays it; its window then passes,
 * so the batch starts, as the single-process one does, with an empty window.
 */
async function warmUp(agent: Client, machineId: string, timeScale: number): Promise<void> {
  const { actions } = (await callTool(agent, "run_live_response", {
    machine_ids: [machineId],
    commands: [{ type: "RunScript", script_name: BENCH_SCRIPT }],
    comment: "bench warm-up",
    wait_seconds: 0,
  })) as { actions: ActionEntry[] };
  await Promise.all(actions.map((entry) => follow(agent, entry)));
  await sleep((WINDOW_MS * 1.1) / timeScale);
}

export async function benchBatchReplicas(options: ReplicaBatchOptions): Promise<BatchFigures> {
  const scenario = scenarioWithDevices(options.devices + 1);
  const all = benchDeviceIds(options.devices + 1);
  const ids = all.slice(0, options.devices);
  const warmUpDevice = all[options.devices] ?? "";
  const runSeconds = scriptRunSeconds(scenario, ids, BENCH_SCRIPT);
  const sim = await startSimulator({ timeScale: options.timeScale, logger: benchLogger, scenario });
  try {
    const deployment = await startDeployment({
      sim,
      replicas: options.replicas,
      timeScale: options.timeScale,
    });
    try {
      // Tokens, connections and the shared windows warm, outside the measurement.
      await Promise.all(deployment.agents.map((agent) => callTool(agent, "list_library_files", {})));
      const [first] = deployment.agents;
      if (first !== undefined) await warmUp(first, warmUpDevice, options.timeScale);
      sim.reset();
      const shares = deployment.agents.map((agent, i) => ({
        agent,
        machineIds: ids.filter((_, j) => j % deployment.agents.length === i),
      }));
      const startedWallMs = Date.now();
      const startedMs = performance.now();
      let lastFinalMs = startedMs;
      const statuses = await Promise.all(
        shares.map(async ({ agent, machineIds }) => {
          const { actions } = (await callTool(agent, "run_live_response", {
            machine_ids: machineIds,
            commands: [{ type: "RunScript", script_name: BENCH_SCRIPT }],
            comment: "bench batch",
            wait_seconds: 0,
          })) as { actions: ActionEntry[] };
          return Promise.all(
            actions.map(async (entry) => {
              const status = await follow(agent, entry);
              if (status !== undefined) lastFinalMs = Math.max(lastFinalMs, performance.now());
              return status;
            }),
          );
        }),
      );
      const finalStatuses = statuses.flat().filter((s): s is string => s !== undefined);
      // The simulator dates each action on the wall clock: the last creation is the last submit.
      const lastCreatedMs = Math.max(
        startedWallMs,
        ...sim.engine.listActions().map((a) => Date.parse(a.creationDateTimeUtc)),
      );
      const run: BatchRun = {
        startedMs,
        lastSubmitMs: startedMs + (lastCreatedMs - startedWallMs),
        lastFinalMs,
        finalStatuses,
        submitFailures: options.devices - finalStatuses.length,
      };
      const label = `mde-live-response-mcp, ${options.replicas} HTTP replicas + Redis`;
      return batchFigures(label, options, sim, run, runSeconds);
    } finally {
      await deployment.close();
    }
  } finally {
    await sim.close();
  }
}
