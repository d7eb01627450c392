import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Settings } from "../config/settings.js";
import { createLogger } from "../logger.js";
import { startReviewServer, type RunningReviewServer } from "../review/console/reviewServer.js";
import { printSignInLink } from "../review/console/reviewSetup.js";
import { version } from "../version.js";
import { createMcpServer } from "./createMcpServer.js";
import { createRuntime } from "./runtime.js";
import { keepStdoutForProtocol } from "./stdoutGuard.js";

/**
 * `mde-live-response-mcp serve` over stdio. Resolves once the server has shut down: when the client
 * closes stdin (the spec's way to end a stdio session), on SIGINT or SIGTERM, or when stdout breaks.
 * Calls still waiting are aborted; the actions they started keep running on their devices.
 */
export async function runStdioServer(settings: Settings): Promise<void> {
  keepStdoutForProtocol();
  const logger = createLogger({ level: settings.LOG_LEVEL });
  const runtime = await createRuntime(settings, { logger });
  const server = createMcpServer(runtime.deps, {
    timeScale: settings.MDE_TIME_SCALE,
    pollIntervalSeconds: settings.MDE_POLL_INTERVAL_SECONDS,
  });
  const stop = stopRequest(server);
  let review: RunningReviewServer | undefined;
  try {
    if (runtime.review !== undefined && settings.MDE_REVIEW_PORT !== undefined) {
      review = await startReviewServer(runtime.review, { port: settings.MDE_REVIEW_PORT, logger });
      // Over stdio the person at this terminal is the reviewer: the link is theirs, on stderr only.
      printSignInLink(runtime.review, review.origin);
    }
    await server.connect(new StdioServerTransport());
    logger.info({ version, transport: "stdio", simulated: runtime.simulated }, "MCP server ready");
    logger.info({ reason: await stop.reason }, "shutting down");
  } finally {
    stop.dispose();
    await review?.close();
    await server.close();
    await runtime.close();
  }
  logger.info("stopped");
}

function stopRequest(server: McpServer): { reason: Promise<string>; dispose(): void } {
  const listeners: Array<() => void> = [];
  const reason = new Promise<string>((resolve) => {
    const on = (emitter: NodeJS.EventEmitter, event: string, why: string): void => {
      const listener = (): void => resolve(why);
      emitter.once(event, listener);
      listeners.push(() => emitter.off(event, listener));
    };
    on(process.stdin, "end", "stdin closed");
    on(process.stdin, "close", "stdin closed");
    on(process.stdout, "error", "stdout closed");
    on(process, "SIGINT", "SIGINT");
    on(process, "SIGTERM", "SIGTERM");
    server.server.onclose = () => resolve("transport closed");
  });
  return { reason, dispose: () => listeners.forEach((off) => off()) };
}
