import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ServerOptions } from "@modelcontextprotocol/sdk/server/index.js";
import type { Implementation } from "@modelcontextprotocol/sdk/types.js";
import { registerTools } from "../tools/registry.js";
import { taskTiming, type TaskTimingOptions } from "../tools/runLiveResponseTask.js";
import type { ToolDeps } from "../tools/toolDeps.js";
import { ToolTaskStore } from "../tools/toolTaskStore.js";
import { version } from "../version.js";
import { serverInstructions } from "./instructions.js";

export const SERVER_NAME = "mde-live-response-mcp";

/**
 * The MCP server with every tool registered; transports connect to it, it knows none of them. With
 * a read-only policy, the tools that act on devices are hidden, following the policy file's reloads.
 * It supports MCP tasks (run_live_response may run as one); `options` carry the settings their
 * timing comes from (MDE_TIME_SCALE, MDE_POLL_INTERVAL_SECONDS).
 */
export function createMcpServer(deps: ToolDeps, options: TaskTimingOptions = {}): McpServer {
  const tasks = { store: new ToolTaskStore(), timing: taskTiming(options) };
  const closing = new AbortController();
  const server = new McpServerWithTasks(
    tasks.store,
    closing,
    { name: SERVER_NAME, version },
    {
      capabilities: { logging: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
      instructions: serverInstructions(deps.limits),
    },
  );
  registerTools(server, deps, { tasks, signal: closing.signal });
  return server;
}

/**
 * A task outlives its tools/call but not its server: closing the server ends the tasks' work, and
 * the tools' following of the policy file.
 */
class McpServerWithTasks extends McpServer {
  constructor(
    private readonly taskStore: ToolTaskStore,
    private readonly closing: AbortController,
    serverInfo: Implementation,
    options: ServerOptions,
  ) {
    super(serverInfo, { ...options, taskStore });
  }

  override async close(): Promise<void> {
    this.closing.abort();
    this.taskStore.close();
    await super.close();
  }
}
