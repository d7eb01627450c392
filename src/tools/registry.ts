import type { McpServer, RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import { callTool, contextFor, type RequestExtra } from "./callTool.js";
import { cancelActionTool } from "./cancelAction.js";
import { findMachinesTool } from "./findMachines.js";
import { getActionTool } from "./getAction.js";
import { listLibraryFilesTool } from "./listLibraryFiles.js";
import { runLiveResponseTool } from "./runLiveResponse.js";
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
}

export function registerTools(
  server: McpServer,
  deps: ToolDeps,
  options: RegisterToolsOptions = {},
): RegisteredTool[] {
  const { tasks } = options;
  return TOOLS.filter((tool) => options.include?.(tool) ?? true).map((tool) =>
    tool === runLiveResponseTool && tasks
      ? registerRunLiveResponseTask(server, deps, tasks)
      : server.registerTool(
          tool.name,
          {
            title: tool.title,
            description: tool.description,
            inputSchema: tool.inputSchema,
            outputSchema: tool.outputSchema,
            annotations: { ...tool.annotations },
          },
          (input: unknown, extra: RequestExtra) => callTool(tool, input, contextFor(deps, extra)),
        ),
  );
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
