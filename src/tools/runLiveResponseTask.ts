import { setTimeout as sleep } from "node:timers/promises";
import type {
  CreateTaskRequestHandlerExtra,
  CreateTaskResult,
} from "@modelcontextprotocol/sdk/experimental/tasks";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { McpServer, RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestTaskStore } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { scaleMs } from "../config/time.js";
import { ACTION_FINAL_STATUSES } from "../defender/schemas.js";
import { DEFAULT_POLL_INTERVAL_SECONDS } from "../liveResponse/liveResponseService.js";
import type { ActionEntry } from "./actionEntry.js";
import { actionLines } from "./actionSummary.js";
import { callTool, contextFor } from "./callTool.js";
import { WAIT_SECONDS_MAX } from "./commonInputs.js";
import { getActionTool } from "./getAction.js";
import { runLiveResponseTool, runRequestOf, type RunInput } from "./runLiveResponse.js";
import { NO_APPROVAL_CHANNEL } from "../safety/approvalChannel.js";
import { clearRunRequest, type Clearance } from "../safety/runClearance.js";
import type { ToolContext } from "./toolDefinition.js";
import type { ToolDeps } from "./toolDeps.js";
import { describeError, toToolError } from "./toolErrors.js";
import { toolResult } from "./toolResult.js";
import type { ToolTaskStore } from "./toolTaskStore.js";

/**
 * run_live_response as an MCP task, for clients that support the tasks extension: the call returns a
 * task at once, and the task runs the tool, then follows every action it returned (with get_action)
 * until all are final, and keeps the combined result. Clients without tasks call the tool as before.
 * The policy judges the request, and a person approves it when the policy asks, before the task is
 * answered: approval needs the tools/call still open to ask on, and nothing may be submitted before it.
 */

export interface TaskTimingOptions {
  /** MDE_TIME_SCALE: divides every duration below (default 1). */
  timeScale?: number;
  /** MDE_POLL_INTERVAL_SECONDS, real-world (default the service's). */
  pollIntervalSeconds?: number;
}

export interface TaskTiming {
  /** The tasks/get interval suggested to clients: polling the task faster finds nothing new. */
  pollIntervalMs: number;
  /** The ttl of a task whose client asks for none. */
  ttlMs: number;
  /** After a failed get_action: long enough for a passing outage or a rate limit to clear. */
  retryPauseMs: number;
}

/** What registers run_live_response as a task tool: the server's task store and its timing. */
export interface ToolTasks {
  store: ToolTaskStore;
  timing: TaskTiming;
}

/**
 * A task's ttl counts from its creation (the SDK's store removes the task then, whatever its status)
 * and starts again once its result is stored. Defender keeps an offline device's action Pending for
 * up to 3 days, and a script then runs for up to 10 minutes: 3 days and an hour lets a task follow
 * such an action to its end, and keeps its result as long again. A client that asks for a ttl gets it.
 */
const TASK_TTL_MS = (3 * 24 + 1) * 60 * 60 * 1000;

const RETRY_PAUSE_MS = 60_000;

/**
 * Each get_action round waits as long as the tool allows (wall-clock, like any wait_seconds): a task
 * has no client timeout to meet, and an action that turns final ends its round at once. Each round
 * reads the device once while its action is Pending: at the default 45 s, that is 80 reads an hour
 * per offline device, and twenty such devices would take the tenant's whole hourly budget of 1,500.
 */
const FOLLOW_WAIT_SECONDS = WAIT_SECONDS_MAX;

/** Consecutive failed get_action calls for one action that end the task as failed. */
const FOLLOW_ATTEMPTS = 3;

/** Statuses an entry keeps for good: Defender's final ones, and NotSubmitted (no action was created). */
const SETTLED_STATUSES: ReadonlySet<string> = new Set([...ACTION_FINAL_STATUSES, "NotSubmitted"]);

const FOLLOWING_NOTE =
  "This task follows the others until they are final; cancelling it stops the following, not the actions (cancel_action stops an action).";

export function taskTiming(options: TaskTimingOptions = {}): TaskTiming {
  const timeScale = options.timeScale ?? 1;
  const pollIntervalSeconds = options.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS;
  return {
    pollIntervalMs: Math.ceil(scaleMs(pollIntervalSeconds * 1000, timeScale)),
    ttlMs: Math.ceil(scaleMs(TASK_TTL_MS, timeScale)),
    retryPauseMs: Math.ceil(scaleMs(RETRY_PAUSE_MS, timeScale)),
  };
}

/** run_live_response with taskSupport "optional": its name, title, description, schemas and hints are the tool's own. */
export function registerRunLiveResponseTask(
  server: McpServer,
  deps: ToolDeps,
  tasks: ToolTasks,
): RegisteredTool {
  const tool = runLiveResponseTool;
  return server.experimental.tasks.registerToolTask(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: { ...tool.annotations },
      execution: { taskSupport: "optional" },
    },
    {
      createTask: (input, extra) => createTask(input, extra, deps, tasks, server.server),
      // SDK 1.x answers tasks/get and tasks/result from the store; these serve any caller asking the tool.
      getTask: (_input, extra) => extra.taskStore.getTask(extra.taskId),
      getTaskResult: async (_input, extra) =>
        (await extra.taskStore.getTaskResult(extra.taskId)) as CallToolResult,
    },
  );
}

async function createTask(
  input: unknown,
  extra: CreateTaskRequestHandlerExtra,
  deps: ToolDeps,
  tasks: ToolTasks,
  server: Server,
): Promise<CreateTaskResult> {
  const task = await extra.taskStore.createTask({
    ttl: extra.taskRequestedTtl ?? tasks.timing.ttlMs,
    pollInterval: tasks.timing.pollIntervalMs,
  });
  const ctx = contextFor(deps, extra, server);
  // The SDK runs a plain tools/call of an "optional" task tool through here too: it gets the tool's own answer.
  if (tasks.store.isPlainCall(task.taskId)) {
    const result = await callTool(runLiveResponseTool, input, ctx);
    return { task: tasks.store.answerPlainCall(task.taskId, result) };
  }
  // The policy judges the request, and a person approves it when the policy asks, while this
  // tools/call is still open: the question travels on its stream, and nothing is submitted before
  // the answer. A refused request is a failed task at once.
  let clearance: Clearance;
  try {
    clearance = await clearRunRequest(runRequestOf(input as RunInput, deps.limits.maxDevicesPerCall), ctx);
  } catch (error) {
    ctx.logger.warn(
      { tool: runLiveResponseTool.name, code: describeError(error).code, taskId: task.taskId },
      "task refused before its submit",
    );
    const result = toToolError(error);
    // As a task that fails later: its status message is the error's first line.
    await extra.taskStore.updateTaskStatus(task.taskId, "working", firstLine(textOf(result)));
    await extra.taskStore.storeTaskResult(task.taskId, "failed", result);
    return { task: (await extra.taskStore.getTask(task.taskId)) ?? task };
  }
  const base: ToolContext = { ...ctx, approvals: NO_APPROVAL_CHANNEL, clearance };
  void new RunLiveResponseTask(task.taskId, extra.taskStore, base, tasks).run(input as RunInput);
  return { task };
}

/** The work behind one task, from the submit to the stored result. */
class RunLiveResponseTask {
  /** The entries as last read; undefined until run_live_response has returned. */
  private entries: ActionEntry[] | undefined;
  /** Aborted when the task is gone (ttl) or a follow failed for good: nothing more to do. */
  private readonly stop = new AbortController();
  private failure: CallToolResult | undefined;
  private lastMessage = "";
  private updates: Promise<void> = Promise.resolve();

  constructor(
    private readonly taskId: string,
    private readonly requestStore: RequestTaskStore,
    /** The call's context, cleared by the policy (and a person): the task swaps in its own signal. */
    private readonly base: ToolContext,
    private readonly tasks: ToolTasks,
  ) {}

  async run(input: RunInput): Promise<void> {
    // Registered before the first await, so a cancel that comes at once is not missed.
    const cancelled = this.tasks.store.follow(this.taskId, () => this.cancelNote());
    const signal = AbortSignal.any([cancelled, this.stop.signal]);
    const ctx: ToolContext = { ...this.base, signal, reportProgress: () => {} };
    const log = this.base.logger.child({ taskId: this.taskId, tool: runLiveResponseTool.name });
    let result: CallToolResult;
    try {
      result = await this.settle(input, ctx);
    } catch (error) {
      log.warn({ errorName: error instanceof Error ? error.name : typeof error }, "task failed");
      result = toToolError(error);
    } finally {
      this.tasks.store.release(this.taskId);
    }
    if (cancelled.aborted || (this.stop.signal.aborted && !this.failure)) {
      log.info("task ended without a result: cancelled, removed, or the server closed");
      return;
    }
    await this.store(result, log);
  }

  private async settle(input: RunInput, ctx: ToolContext): Promise<CallToolResult> {
    await this.setStatus(
      `Submitting to ${input.machine_ids.length} device(s), then following their actions.`,
    );
    const first = await callTool(runLiveResponseTool, input, ctx);
    const actions = (first.structuredContent as { actions?: ActionEntry[] } | undefined)?.actions;
    // An error before any action (bad input, no device accepted) is the task's result as it is.
    if (first.isError || actions === undefined) return first;
    const entries = [...actions];
    this.entries = entries;
    await this.setStatus(this.progressMessage(entries));
    await Promise.all(entries.map((_, index) => this.followEntry(entries, index, ctx)));
    if (this.failure) {
      return toolResult({
        structured: { actions: entries },
        summary: [
          `run_live_response: this task stopped following; ${textOf(this.failure)}`,
          ...actionLines(entries),
        ].join("\n"),
        isError: true,
      });
    }
    return toolResult({
      structured: { actions: entries },
      summary: [
        `run_live_response: ${entries.length} device(s), each followed to a final status.`,
        ...actionLines(entries),
      ].join("\n"),
    });
  }

  /** Calls get_action for one entry until it is final, each round at least a poll interval long. */
  private async followEntry(entries: ActionEntry[], index: number, ctx: ToolContext): Promise<void> {
    const { timing } = this.tasks;
    let failures = 0;
    for (;;) {
      const entry = entries[index];
      if (!entry || isSettled(entry) || ctx.signal.aborted) return;
      const reference = referenceOf(entry);
      if (!reference) return;
      const started = performance.now();
      const result = await callTool(getActionTool, { ...reference, wait_seconds: FOLLOW_WAIT_SECONDS }, ctx);
      if (ctx.signal.aborted) return;
      const action = (result.structuredContent as { action?: ActionEntry } | undefined)?.action;
      if (result.isError || !action) {
        failures += 1;
        if (failures >= FOLLOW_ATTEMPTS) {
          this.failure ??= result;
          this.stop.abort();
          return;
        }
        await pause(timing.retryPauseMs, ctx.signal);
        continue;
      }
      failures = 0;
      entries[index] = { ...action, request_id: action.request_id ?? entry.request_id };
      await this.setStatus(this.progressMessage(entries));
      // The poller reads Defender once a poll interval: asking again sooner would find nothing new.
      if (!isSettled(action)) await pause(timing.pollIntervalMs - (performance.now() - started), ctx.signal);
    }
  }

  private progressMessage(entries: readonly ActionEntry[]): string {
    const settled = entries.filter(isSettled).length;
    const head = `${settled} of ${entries.length} final (${statusCounts(entries)}).`;
    return settled === entries.length ? head : `${head} ${FOLLOWING_NOTE}`;
  }

  private cancelNote(): string {
    if (!this.entries) {
      return "Cancelled while submitting: a submit already sent completes, and its action goes on in Defender. Cancelling a task never stops actions: cancel_action does.";
    }
    const open = this.entries.filter((e) => !isSettled(e));
    if (open.length === 0) return "Cancelled once every action was final.";
    const names = open.map((e) =>
      e.action_id ? `action_id ${e.action_id} (${e.status})` : `request_id ${e.request_id} (${e.status})`,
    );
    return `Cancelled: this task no longer follows its actions. ${open.length} not final go on in Defender: ${names.join(", ")}. Follow them with get_action; stop them with cancel_action.`;
  }

  /**
   * One update at a time: the store's notification reads the task back, so overlapping updates would
   * each report the latest message. Resolves once every update asked for so far is written.
   */
  private setStatus(message: string): Promise<void> {
    if (message !== this.lastMessage) {
      this.lastMessage = message;
      this.updates = this.updates.then(() => this.writeStatus(message));
    }
    return this.updates;
  }

  /** An update that fails because the task is gone ends the work: nobody can read its result. */
  private async writeStatus(message: string): Promise<void> {
    try {
      await this.requestStore.updateTaskStatus(this.taskId, "working", message);
    } catch (error) {
      const task = await this.tasks.store.getTask(this.taskId);
      if (!task || task.status !== "working") this.stop.abort();
      else this.base.logger.debug({ taskId: this.taskId, err: String(error) }, "task status not sent");
    }
  }

  private async store(result: CallToolResult, log: ToolDeps["logger"]): Promise<void> {
    const status = result.isError ? "failed" : "completed";
    try {
      if (status === "failed") await this.setStatus(firstLine(textOf(result)));
      else if (this.entries) await this.setStatus(this.progressMessage(this.entries));
      await this.requestStore.storeTaskResult(this.taskId, status, result);
      log.info({ status }, "task ended");
    } catch (error) {
      // Cancelled or removed between the last check and now: the result has no reader.
      log.debug({ err: String(error) }, "task result not stored");
    }
  }
}

function isSettled(entry: ActionEntry): boolean {
  return SETTLED_STATUSES.has(entry.status);
}

/** get_action's reference to an entry: Defender's action id once there is one, else this server's request id. */
function referenceOf(entry: ActionEntry): { action_id: string } | { request_id: string } | undefined {
  if (entry.action_id !== null) return { action_id: entry.action_id };
  if (entry.request_id !== null) return { request_id: entry.request_id };
  return undefined;
}

/** "Succeeded 2, Pending 1": statuses come from Defender's schema or this server, never from a device. */
function statusCounts(entries: readonly ActionEntry[]): string {
  const counts = new Map<string, number>();
  for (const { status } of entries) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts].map(([status, count]) => `${status} ${count}`).join(", ");
}

function textOf(result: CallToolResult): string {
  const [first] = result.content;
  return first?.type === "text" ? first.text : "";
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? "";
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  await sleep(ms, undefined, { signal }).catch((error: unknown) => {
    if (!signal.aborted) throw error;
  });
}
