import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import type { ProgressUpdate, ToolContext, ToolDefinition } from "./toolDefinition.js";
import type { ToolDeps } from "./toolDeps.js";
import { describeError, toToolError } from "./toolErrors.js";
import { toolResult } from "./toolResult.js";

export type RequestExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

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

/** A handler's context for one tools/call request: its signal, and progress sent on its progress token. */
export function contextFor(deps: ToolDeps, extra: RequestExtra): ToolContext {
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
