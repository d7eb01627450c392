import type { McpServer, RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { cancelActionTool } from "./cancelAction.js";
import { findMachinesTool } from "./findMachines.js";
import { getActionTool } from "./getAction.js";
import { listLibraryFilesTool } from "./listLibraryFiles.js";
import { runLiveResponseTool } from "./runLiveResponse.js";
import type { ProgressUpdate, ToolContext, ToolDefinition, ToolHints } from "./toolDefinition.js";
import type { ToolDeps } from "./toolDeps.js";
import { describeError, toToolError } from "./toolErrors.js";
import { toolResult } from "./toolResult.js";

/** Every tool, in the order clients list them. Read-only filtering, the README tables and the tools/list snapshot all derive from this. */
export const TOOLS: readonly ToolDefinition[] = [
  findMachinesTool,
  listLibraryFilesTool,
  runLiveResponseTool,
  getActionTool,
  cancelActionTool,
];

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface RegisterToolsOptions {
  /** Registers only the tools it accepts (e.g. read-only mode keeps tools whose readOnlyHint is true). */
  include?: (tool: ToolDefinition) => boolean;
}

export function registerTools(
  server: McpServer,
  deps: ToolDeps,
  options: RegisterToolsOptions = {},
): RegisteredTool[] {
  return TOOLS.filter((tool) => options.include?.(tool) ?? true).map((tool) =>
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        outputSchema: tool.outputSchema,
        annotations: { ...tool.annotations },
      },
      (input: unknown, extra: Extra) => callTool(tool, input, contextFor(deps, extra)),
    ),
  );
}

/** Runs one call; every failure becomes an `isError` result through `toToolError`, never a protocol error. */
export async function callTool(
  tool: ToolDefinition,
  input: unknown,
  ctx: ToolContext,
): Promise<CallToolResult> {
  try {
    return toolResult(await tool.handler(input as never, ctx));
  } catch (error) {
    const { code } = describeError(error);
    ctx.logger.warn(
      { tool: tool.name, code, errorName: error instanceof Error ? error.name : typeof error },
      "tool call failed",
    );
    return toToolError(error);
  }
}

function contextFor(deps: ToolDeps, extra: Extra): ToolContext {
  const progressToken = extra._meta?.progressToken;
  return {
    ...deps,
    signal: extra.signal,
    reportProgress(update: ProgressUpdate) {
      if (progressToken === undefined) return;
      // A lost progress notification must not fail the call it reports on.
      extra
        .sendNotification({ method: "notifications/progress", params: { progressToken, ...update } })
        .catch((error: unknown) =>
          deps.logger.debug({ err: String(error) }, "progress notification not sent"),
        );
    },
  };
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
