import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { RequestGuard } from "../../http/requestGuard.js";
import type { Logger } from "../../logger.js";
import { securityHeaders, sendError } from "./consoleHttp.js";
import { ReviewConsole } from "./reviewConsole.js";

export interface RunningReviewServer {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  close(): Promise<void>;
}

/** Over stdio there is no HTTP server: the console gets its own, on loopback only. */
const HOST = "127.0.0.1";

/** The review console on its own loopback port (stdio mode, `--review-port`). */
export async function startReviewServer(
  reviewConsole: ReviewConsole,
  options: { port: number; logger: Logger },
): Promise<RunningReviewServer> {
  const guard = new RequestGuard({
    bindHost: HOST,
    allowedHosts: [],
    allowedOrigins: [],
    publicUrl: undefined,
  });
  const server = http.createServer((req, res) => {
    const host = guard.checkHost(req.headers);
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (!host.ok) {
      securityHeaders(res);
      return sendError(res, host.status, "host", host.message);
    }
    if (path === "/") {
      res.writeHead(303, { location: "/review" }).end();
      return;
    }
    if (!ReviewConsole.isConsolePath(path)) return sendError(res, 404, "not_found", "not found");
    reviewConsole.handle(req, res).catch((error: unknown) => {
      options.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        "review console request failed",
      );
      if (!res.headersSent) sendError(res, 500, "internal", "internal error");
      else res.end();
    });
  });
  server.listen(options.port, HOST);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const origin = `http://${HOST}:${port}`;
  options.logger.info({ url: `${origin}/review` }, "review console listening");
  return {
    origin,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      reviewConsole.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
