import { randomUUID } from "node:crypto";
import { InMemoryTaskStore, type CreateTaskOptions } from "@modelcontextprotocol/sdk/experimental/tasks";
import type { CallToolResult, Request, RequestId, Result, Task } from "@modelcontextprotocol/sdk/types.js";

interface FollowedTask {
  controller: AbortController;
  /** The status message a cancelled task keeps: what the cancel stopped, and what it did not. */
  cancelNote: () => string;
}

/**
 * The server's MCP task store. Tasks live in this process's memory: a restart forgets them, while
 * the actions they started live on in Defender (the runtime takes their sessions back at start).
 * On top of the SDK's in-memory store it does the two things the SDK leaves to the store's owner:
 *
 * - For a tool whose taskSupport is "optional", the SDK runs a plain tools/call (no `task` in its
 *   params) through the tool's createTask as well, then polls the store for the result. Such a call
 *   must behave exactly as the plain tool does, so it is recognised here (`isPlainCall`), answered
 *   inline (`answerPlainCall`), and leaves no task behind: tasks/list and tasks/get never see it.
 * - tasks/cancel only marks a task cancelled in the store. The work behind the task learns of it
 *   through the signal `follow` gave it, and the task's status message says what the cancel stopped.
 */
export class ToolTaskStore extends InMemoryTaskStore {
  private readonly plainCalls = new Map<string, { task: Task; result?: Result }>();
  private readonly followed = new Map<string, FollowedTask>();
  private closed = false;

  override async createTask(
    taskParams: CreateTaskOptions,
    requestId: RequestId,
    request: Request,
    sessionId?: string,
  ): Promise<Task> {
    // The SDK's own test for a task-augmented tools/call: a `task` member in the params.
    if (request.params?.["task"]) return super.createTask(taskParams, requestId, request, sessionId);
    const now = new Date().toISOString();
    const task: Task = {
      taskId: randomUUID(),
      status: "working",
      ttl: null,
      createdAt: now,
      lastUpdatedAt: now,
    };
    this.plainCalls.set(task.taskId, { task });
    return { ...task };
  }

  /** True when the task stands for a plain tools/call, which must be answered before createTask returns. */
  isPlainCall(taskId: string): boolean {
    return this.plainCalls.has(taskId);
  }

  /** Keeps a plain call's result for the SDK's one read of it; the task returned is already terminal. */
  answerPlainCall(taskId: string, result: CallToolResult): Task {
    const call = this.plainCalls.get(taskId);
    if (!call) throw new Error(`no plain call ${taskId} is waiting for its answer`);
    call.result = result;
    call.task = { ...call.task, status: "completed", lastUpdatedAt: new Date().toISOString() };
    return { ...call.task };
  }

  override async getTask(taskId: string, sessionId?: string): Promise<Task | null> {
    const call = this.plainCalls.get(taskId);
    return call ? { ...call.task } : super.getTask(taskId, sessionId);
  }

  override async getTaskResult(taskId: string, sessionId?: string): Promise<Result> {
    const call = this.plainCalls.get(taskId);
    if (call?.result === undefined) return super.getTaskResult(taskId, sessionId);
    this.plainCalls.delete(taskId);
    return call.result;
  }

  /**
   * Registers the work behind a task: the signal aborts when a client cancels the task or the server
   * closes. `release` once the work has ended.
   */
  follow(taskId: string, cancelNote: () => string): AbortSignal {
    const controller = new AbortController();
    if (this.closed) controller.abort();
    else this.followed.set(taskId, { controller, cancelNote });
    return controller.signal;
  }

  release(taskId: string): void {
    this.followed.delete(taskId);
  }

  override async updateTaskStatus(
    taskId: string,
    status: Task["status"],
    statusMessage?: string,
    sessionId?: string,
  ): Promise<void> {
    if (this.closed) return;
    const followed = this.followed.get(taskId);
    if (status !== "cancelled" || !followed) {
      await super.updateTaskStatus(taskId, status, statusMessage, sessionId);
      return;
    }
    await super.updateTaskStatus(taskId, status, followed.cancelNote(), sessionId);
    followed.controller.abort();
  }

  override async storeTaskResult(
    taskId: string,
    status: "completed" | "failed",
    result: Result,
    sessionId?: string,
  ): Promise<void> {
    if (this.closed) return;
    await super.storeTaskResult(taskId, status, result, sessionId);
  }

  /**
   * Stops the work behind every task and clears the store's ttl timers. Writes that arrive later are
   * dropped: nobody can read them, and each would start a timer keeping the process alive for days.
   */
  close(): void {
    this.closed = true;
    for (const { controller } of this.followed.values()) controller.abort();
    this.followed.clear();
    this.plainCalls.clear();
    this.cleanup();
  }
}
