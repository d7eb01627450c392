import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { registerTools } from "../tools/registry.js";
import type { ToolDeps } from "../tools/toolDeps.js";
import { version } from "../version.js";
import { serverInstructions } from "./instructions.js";

export const SERVER_NAME = "mde-live-response-mcp";

/** The MCP server with every tool registered; transports connect to it, it knows none of them. */
export function createMcpServer(deps: ToolDeps): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version },
    { capabilities: { logging: {} }, instructions: serverInstructions(deps.limits) },
  );
  registerTools(server, deps);
  return server;
}
