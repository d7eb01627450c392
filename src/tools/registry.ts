import type { McpServer, RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import { callTool, contextFor, type RequestExtra } from "./callTool.js";
import { cancelActionTool } from "./cancelAction.js";
import { findMachinesTool } from "./findMachines.js";
import { getActionTool } from "./getAction.js";
import { listLibraryFilesTool } from "./listLibraryFiles.js";
import { runLiveResponseTool } from "./runLiveResponse.js";
import { followReadOnly } from "./readOnlyMode.js";
import { registerRunLiveResponseTask, type ToolTasks } from "./runLiveResponseTask.js";
import type { ToolDefinition, ToolHints } from "./toolDefinition.js";
import type { ToolDeps } from "./toolDeps.js";

/** Every tool, in the order clients list them. Read-only filtering, the README tables and the tools/list snapshot all derive from this. */
export const TOOLS: readonly ToolDefinition[] = [
  findMachinesTool,
  listLibraryFilesTool,
  runLiveResponseTool,
  getActionTool,
  cancelActionTool,
];

export interface RegisterToolsOptions {
  /** Registers only the tools it accepts (e.g. read-only mode keeps tools whose readOnlyHint is true). */
  include?: (tool: ToolDefinition) => boolean;
  /**
   * The server's task store (the McpServer must have been given it too): run_live_response then also
   * runs as an MCP task for clients that ask for one (taskSupport "optional").
   */
  tasks?: ToolTasks;
  /**
   * Ends the tools' following of the policy (read-only mode as the file is reloaded); without it, they
   * follow it as long as the policy source lives.
   */
  signal?: AbortSignal;
}

/**
 * Registers the tools; with a policy in the deps, read-only mode hides the tools that act on devices
 * from the start and follows the policy file as it is reloaded.
 */
export function registerTools(
  server: McpServer,
  deps: ToolDeps,
  options: RegisterToolsOptions = {},
): RegisteredTool[] {
  const { tasks } = options;
  const tools = TOOLS.filter((tool) => options.include?.(tool) ?? true).map((definition) => ({
    definition,
    registered:
      definition === runLiveResponseTool && tasks
        ? registerRunLiveResponseTask(server, deps, tasks)
        : server.registerTool(
            definition.name,
            {
              title: definition.title,
              description: definition.description,
              inputSchema: definition.inputSchema,
              outputSchema: definition.outputSchema,
              annotations: { ...definition.annotations },
            },
            (input: unknown, extra: RequestExtra) =>
              callTool(definition, input, contextFor(deps, extra, server.server)),
          ),
  }));
  if (deps.policy && !options.signal?.aborted) {
    const stop = followReadOnly(tools, deps.policy, deps.logger);
    options.signal?.addEventListener("abort", stop, { once: true });
  }
  return tools.map((t) => t.registered);
}

export interface ToolDoc {
  name: string;
  title: string;
  /** The description's first sentence. */
  summary: string;
  annotations: ToolHints;
}

/** What the README's tool table shows, straight from the registry. */
export function toolDocs(): ToolDoc[] {
  return TOOLS.map((tool) => ({
    name: tool.name,
    title: tool.title,
    summary: firstSentence(tool.description),
    annotations: { ...tool.annotations },
  }));
}

function firstSentence(text: string): string {
  const match = /^.*?[.!?](?=\s|$)/s.exec(text);
  return (match?.[0] ?? text).trim();
}
