import { setTimeout as sleep } from "node:timers/promises";
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  TaskStatusNotificationSchema,
  type CallToolResult,
  type Task,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { filter } from "../../src/defender/odataQuery.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { taskTiming } from "../../src/tools/runLiveResponseTask.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";
import {
  startToolHarness,
  structured,
  summaryOf,
  textOf,
  untrustedBlockOf,
  type ToolHarness,
} from "./toolHarness.js";

type Actions = { actions: ActionEntry[] };
type OneAction = { action: ActionEntry };

const timing = taskTiming({ timeScale: TEST_TIME_SCALE });

describe("run_live_response as an MCP task (real SDK client and server, simulator)", () => {
  let h: ToolHarness;
  /** Every notifications/tasks/status the client received, as "status: message", by task id. */
  const statusNotes = new Map<string, string[]>();

  beforeAll(async () => {
    h = await startToolHarness({ tasks: true });
    h.mcp.setNotificationHandler(TaskStatusNotificationSchema, ({ params }) => {
      const seen = statusNotes.get(params.taskId) ?? [];
      statusNotes.set(params.taskId, [...seen, `${params.status}: ${params.statusMessage ?? ""}`]);
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const runArgs = (machineIds: string[], extra: Record<string, unknown> = {}) => ({
    machine_ids: machineIds,
    commands: [{ type: "RunScript", script_name: SCRIPT }],
    comment: "tasks test",
    ...extra,
  });

  /** tools/call with task augmentation, as a task-aware client sends it. */
  async function startTask(args: Record<string, unknown>): Promise<Task> {
    const { task } = await h.mcp.request(
      { method: "tools/call", params: { name: "run_live_response", arguments: args } },
      CreateTaskResultSchema,
      { task: {} },
    );
    return task;
  }

  /** Polls tasks/get at the interval the task suggests until `done` holds. */
  async function pollTask(taskId: string, done: (task: Task) => boolean): Promise<Task> {
    for (;;) {
      const task = await h.mcp.experimental.tasks.getTask(taskId);
      if (done(task)) return task;
      await sleep(task.pollInterval ?? timing.pollIntervalMs);
    }
  }

  const isTerminal = (task: Task) => ["completed", "failed", "cancelled"].includes(task.status);

  async function taskResult(taskId: string): Promise<CallToolResult> {
    return (await h.mcp.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
  }

  async function pendingActionOn(machineId: string): Promise<string> {
    const { items } = await h.fx.client().listMachineActions({
      filter: filter.and(filter.eq("machineId", machineId), filter.eq("status", "Pending")),
    });
    expect(items).toHaveLength(1);
    return items[0]!.id;
  }

  it("lists taskSupport optional for run_live_response only, and the server offers tasks", async () => {
    const { tools } = await h.mcp.listTools();
    expect(Object.fromEntries(tools.map((t) => [t.name, t.execution?.taskSupport]))).toEqual({
      find_machines: "forbidden",
      list_library_files: "forbidden",
      run_live_response: "optional",
      get_action: "forbidden",
      cancel_action: "forbidden",
    });
    expect(h.mcp.getServerCapabilities()?.tasks).toEqual({
      list: {},
      cancel: {},
      requests: { tools: { call: {} } },
    });
  });

  it("returns a task at once, follows every action to its final status, and keeps the combined result", async () => {
    const task = await startTask(runArgs([DEVICES.finance, DEVICES.hr], { wait_seconds: 0 }));
    expect(task).toMatchObject({
      taskId: expect.any(String),
      status: "working",
      pollInterval: timing.pollIntervalMs,
      ttl: timing.ttlMs,
    });

    const done = await pollTask(task.taskId, isTerminal);
    expect(done.status).toBe("completed");
    expect(done.statusMessage).toBe("2 of 2 final (Succeeded 2).");
    // wait_seconds 0 returned both actions before they were final: the task followed them, saying so
    // as each turned final. The last notification may come just after tasks/get saw the task completed.
    await vi.waitFor(() => expect(statusNotes.get(task.taskId)?.at(-1)).toMatch(/^completed: /));
    const notes = statusNotes.get(task.taskId) ?? [];
    expect(notes[0]).toBe("working: Submitting to 2 device(s), then following their actions.");
    expect(notes[1]).toMatch(
      /^working: 0 of 2 final \(.*\)\. This task follows the others until they are final; cancelling it stops the following, not the actions/,
    );
    expect(notes.at(-2)).toBe("working: 2 of 2 final (Succeeded 2).");
    expect(notes.at(-1)).toBe("completed: 2 of 2 final (Succeeded 2).");
    const finalCounts = notes.slice(1).map((note) => Number(/^\w+: (\d) of 2 final/.exec(note)?.[1]));
    expect(finalCounts).toEqual([...finalCounts].sort());
    expect(new Set(finalCounts)).toEqual(new Set([0, 1, 2]));

    const result = await taskResult(task.taskId);
    expect(result.isError).toBeFalsy();
    const { actions } = structured<Actions>(result);
    expect(actions.map((a) => [a.machine_id, a.status])).toEqual([
      [DEVICES.finance, "Succeeded"],
      [DEVICES.hr, "Succeeded"],
    ]);
    for (const entry of actions) {
      expect(entry.request_id).toMatch(/^req_/);
      expect(entry.next_step).toBeNull();
      const output = entry.commands[0]?.result;
      expect(output && "output" in output ? output.output : "").toContain("PID");
    }
    expect(summaryOf(result)).toMatch(/^run_live_response: 2 device\(s\), each followed to a final status\./);
    expect(JSON.parse(untrustedBlockOf(result).body)).toEqual(result.structuredContent);
  });

  it("follows natively through the SDK client's callToolStream", async () => {
    await h.mcp.listTools();
    const kinds: string[] = [];
    let final: CallToolResult | undefined;
    for await (const message of h.mcp.experimental.tasks.callToolStream({
      name: "run_live_response",
      arguments: runArgs([DEVICES.dc], { wait_seconds: 0 }),
    })) {
      kinds.push(message.type);
      if (message.type === "result") final = message.result as CallToolResult;
    }
    expect(kinds[0]).toBe("taskCreated");
    expect(kinds.at(-1)).toBe("result");
    expect(structured<Actions>(final!).actions[0]?.status).toBe("Succeeded");
  });

  it("keeps a task on an offline device working; tasks/cancel stops the following, not the action", async () => {
    const task = await startTask(runArgs([DEVICES.finance, DEVICES.offlineKiosk], { wait_seconds: 0 }));
    const waiting = await pollTask(task.taskId, (t) => t.statusMessage?.startsWith("1 of 2 final") ?? false);
    expect(waiting.status).toBe("working");
    expect(waiting.statusMessage).toMatch(
      /^1 of 2 final \(Succeeded 1, Pending 1\)\. This task follows the others until they are final; cancelling it stops the following, not the actions \(cancel_action stops an action\)\.$/,
    );
    const kioskAction = await pendingActionOn(DEVICES.offlineKiosk);

    const cancelled = await h.mcp.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.statusMessage).toBe(
      `Cancelled: this task no longer follows its actions. 1 not final go on in Defender: action_id ${kioskAction} (Pending). Follow them with get_action; stop them with cancel_action.`,
    );

    // The following stopped: the action is read at most at the idle pace of actions nobody waits on,
    // not every poll interval. Nothing the stopped work does changes the task afterwards either.
    await sleep(2 * timing.pollIntervalMs);
    const listsBefore = h.calls().listMachineActions ?? 0;
    const windowMs = 3 * timing.retryPauseMs;
    await sleep(windowMs);
    expect((h.calls().listMachineActions ?? 0) - listsBefore).toBeLessThan(
      windowMs / timing.pollIntervalMs / 2,
    );
    expect(await h.mcp.experimental.tasks.getTask(task.taskId)).toMatchObject({
      status: "cancelled",
      statusMessage: cancelled.statusMessage,
    });
    expect(await pendingActionOn(DEVICES.offlineKiosk)).toBe(kioskAction);

    const stopped = await h.call("cancel_action", { action_id: kioskAction, comment: "tasks test" });
    expect(structured<OneAction>(stopped).action.status).toBe("Cancelled");
  });

  it("stores a failure as the task's failed result, with the tool's own error", async () => {
    const task = await startTask({
      ...runArgs([DEVICES.finance]),
      commands: [
        { type: "GetFile", path: "C:\\Windows\\Temp\\x.log" },
        { type: "RunScript", script_name: SCRIPT },
      ],
    });
    const done = await pollTask(task.taskId, isTerminal);
    expect(done.status).toBe("failed");
    expect(done.statusMessage).toMatch(/^Error INVALID_INPUT: invalid commands/);
    const result = await taskResult(task.taskId);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain("PutFile, then RunScript, then GetFile");
  });

  it("answers a client that calls without a task exactly as the plain tool does, and keeps no task", async () => {
    const before = (await h.mcp.experimental.tasks.listTasks()).tasks.length;

    const online = await h.call("run_live_response", runArgs([DEVICES.appServer]));
    expect(online.isError).toBeFalsy();
    expect(summaryOf(online)).toMatch(/^run_live_response: 1 device\(s\)\.\n/);
    const [entry] = structured<Actions>(online).actions;
    expect(entry?.status).toBe("Succeeded");
    expect(JSON.parse(untrustedBlockOf(online).body)).toEqual(online.structuredContent);

    // Start, then poll: the plain call returns after wait_seconds, it does not follow to the end.
    const offline = await h.call("run_live_response", runArgs([DEVICES.offlineKiosk], { wait_seconds: 0 }));
    const [pending] = structured<Actions>(offline).actions;
    expect(pending?.status).toBe("Pending");
    expect(pending?.next_step).toContain(`call get_action with action_id "${pending?.action_id}"`);

    expect((await h.mcp.experimental.tasks.listTasks()).tasks).toHaveLength(before);
    await h.call("cancel_action", { action_id: pending!.action_id, comment: "tasks test" });
  });
});
