import { randomUUID } from "node:crypto";
import { once } from "node:events";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { LiveResponseService } from "../liveResponse/liveResponseService.js";
import type { Logger } from "../logger.js";
import { ReviewConsole } from "../review/console/reviewConsole.js";
import { printSignInLink } from "../review/console/reviewSetup.js";
import { createMcpServer } from "../server/createMcpServer.js";
import type { TaskTimingOptions } from "../tools/runLiveResponseTask.js";
import type { ToolDeps } from "../tools/toolDeps.js";
import { ApiKeyStore } from "./apiKeys.js";
import { HttpAuthError } from "./authError.js";
import { EntraTokenVerifier, type VerifiedCaller } from "./entraTokenVerifier.js";
import type { HttpServerConfig } from "./httpConfig.js";
import { issuerGet } from "./issuerFetch.js";
import { isLoopbackAddress } from "./loopback.js";
import { HttpMetrics } from "./metrics.js";
import { ObservedTransport } from "./observedTransport.js";
import type { Principal } from "./principal.js";
import { MCP_PATH, METADATA_PATH, protectedResourceMetadata, resourceUrls } from "./protectedResource.js";
import { runReadinessChecks, type ReadinessCheck } from "./readiness.js";
import { RequestAuthenticator } from "./requestAuthenticator.js";
import { BodyNotJsonError, BodyTooLargeError, readJsonBody } from "./requestBody.js";
import { RequestGuard } from "./requestGuard.js";
import { SessionStore } from "./sessionStore.js";

/** Sessions one process keeps open at most; each holds an McpServer, so the count is bounded. */
const MAX_SESSIONS = 1_000;

export interface HttpServerOptions {
  config: HttpServerConfig;
  /** The one runtime every session shares: the API client, its limiters and the live response domain. */
  deps: ToolDeps;
  /** Timing of the per-session McpServer's tasks (MDE_TIME_SCALE, MDE_POLL_INTERVAL_SECONDS). */
  serverOptions: TaskTimingOptions;
  /** What `/readyz` requires, besides the token issuer when OAuth is on. */
  readiness: readonly ReadinessCheck[];
  logger: Logger;
  /** An extra CA (PEM) for the OAuth token issuer's HTTPS, e.g. the simulator's. */
  issuerCa?: string;
  /** The review console, served at /review; its reviewers sign in on their own, not with /mcp's credentials. */
  review?: ReviewConsole | undefined;
}

export interface RunningHttpServer {
  /** e.g. http://127.0.0.1:8787 */
  url: string;
  metrics: HttpMetrics;
  /** The open MCP sessions and whom each is bound to. */
  sessions(): Array<{ id: string; principal: Principal }>;
  /** Stops listening, closes every session (their tool calls are aborted), and resolves when done. */
  close(): Promise<void>;
}

type AuthenticatedRequest = IncomingMessage & { auth?: AuthInfo };

/**
 * Streamable HTTP at /mcp with stateful sessions (so progress and elicitation reach the client on
 * the call's SSE stream), plus /healthz, /readyz, /metrics and, with OAuth, the Protected Resource
 * Metadata. Every session has its own McpServer on the shared runtime, so the API's limits hold for
 * the whole process whoever calls.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { config, deps, logger } = options;
  const keys = config.apiKeysFile === undefined ? undefined : await ApiKeyStore.load(config.apiKeysFile);
  const issuer = config.oauth === undefined ? undefined : issuerGet(options.issuerCa);
  const verifier =
    config.oauth === undefined || issuer === undefined
      ? undefined
      : new EntraTokenVerifier(config.oauth, issuer.get);
  const authenticator = new RequestAuthenticator(keys, verifier);
  const guard = new RequestGuard({
    bindHost: config.host,
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
    publicUrl: config.publicUrl,
  });
  const store = new SessionStore({ idleMs: config.sessionIdleMs, logger });
  const liveResponse = deps.liveResponse instanceof LiveResponseService ? deps.liveResponse : undefined;
  const metrics = new HttpMetrics({
    limiters: () => deps.client.limiters.snapshot(),
    liveResponse,
    mcpSessions: () => store.size,
  });
  const readiness: ReadinessCheck[] = [
    ...options.readiness,
    ...(verifier ? [{ name: "oauth_issuer", check: () => verifier.ready() }] : []),
  ];

  const openSession = async (
    req: AuthenticatedRequest,
    res: ServerResponse,
    body: unknown,
    caller: VerifiedCaller,
  ): Promise<void> => {
    if (store.size >= MAX_SESSIONS) {
      res.setHeader("retry-after", "60");
      return jsonRpcError(res, 503, "too many open sessions; close unused ones (DELETE /mcp) and retry");
    }
    const server = createMcpServer(deps, options.serverOptions);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => store.add({ id, principal: caller.principal, transport, server }),
      onsessionclosed: (id) => store.close(id, "the client ended it"),
    });
    await server.connect(
      new ObservedTransport(transport, (tool, outcome) => metrics.recordToolCall(tool, outcome)),
    );
    req.auth = caller.authInfo;
    await transport.handleRequest(req, res, body);
    // An initialize that failed leaves no session behind.
    if (transport.sessionId === undefined || !store.has(transport.sessionId)) {
      await server.close();
    }
  };

  const handleMcp = async (req: AuthenticatedRequest, res: ServerResponse): Promise<void> => {
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      res.setHeader("allow", "GET, POST, DELETE");
      return jsonRpcError(res, 405, "method not allowed");
    }
    let caller: VerifiedCaller;
    try {
      caller = await authenticator.authenticate(req.headers.authorization);
    } catch (error) {
      if (!(error instanceof HttpAuthError)) throw error;
      return refuse(req, res, error);
    }
    let body: unknown;
    if (req.method === "POST") {
      try {
        body = await readJsonBody(req, config.maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          res.setHeader("connection", "close");
          return jsonRpcError(res, 413, error.message);
        }
        if (error instanceof BodyNotJsonError) return jsonRpcError(res, 400, error.message, -32700);
        throw error;
      }
    }
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId !== "string") {
      if (req.method === "POST" && isInitializeRequest(body)) return openSession(req, res, body, caller);
      return jsonRpcError(res, 400, "no Mcp-Session-Id: start a session with an initialize request");
    }
    const lookup = store.find(sessionId, caller.principal);
    if (!lookup.found) {
      if (lookup.reason === "other_principal") {
        logger.warn(
          { principal: caller.principal.name, principalId: caller.principal.id },
          "refused a session id presented by another principal than the one that opened it",
        );
      }
      // The same answer either way: nobody learns that an id they do not own exists.
      return jsonRpcError(res, 404, "session not found; start a new session with an initialize request");
    }
    const end = store.begin(sessionId);
    res.once("close", end);
    req.auth = caller.authInfo;
    await lookup.session.transport.handleRequest(req, res, body);
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, error: HttpAuthError): void => {
    logger.info(
      { code: error.code, reason: error.message, path: MCP_PATH },
      "refused an unauthenticated request",
    );
    if (error.status !== 503) {
      const urls = resourceUrls(config.publicUrl, req.headers.host);
      res.setHeader("www-authenticate", authenticator.challenge(error, urls.metadata));
    }
    const code = error.code === "missing_token" ? "invalid_request" : error.code;
    sendJson(res, error.status, { error: code, error_description: error.message });
  };

  const handle = async (req: AuthenticatedRequest, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (options.review && ReviewConsole.isConsolePath(path)) {
      // The console checks origins itself (its no-referrer pages send `Origin: null` with a POST)
      // and answers no CORS, whatever origins /mcp allows.
      const consoleHost = guard.checkHost(req.headers);
      if (!consoleHost.ok) return jsonRpcError(res, consoleHost.status, consoleHost.message);
      return options.review.handle(req, res);
    }
    const origin = guard.checkOrigin(req.headers);
    if (!origin.ok) return jsonRpcError(res, origin.status, origin.message);
    // Probes and scrapers name the pod's address in Host, so these answer whatever Host says; they
    // tell nothing about devices or callers.
    if (path === "/healthz") return getOnly(req, res, () => sendJson(res, 200, { status: "ok" }));
    if (path === "/readyz") {
      return getOnly(req, res, async () => {
        const report = await runReadinessChecks(readiness);
        sendJson(res, report.ready ? 200 : 503, {
          status: report.ready ? "ready" : "not ready",
          checks: report.checks,
        });
      });
    }
    if (path === "/metrics") {
      return getOnly(req, res, async () => {
        const { contentType, body } = await metrics.render();
        res.writeHead(200, { "content-type": contentType }).end(body);
      });
    }
    const host = guard.checkHost(req.headers);
    if (!host.ok) return jsonRpcError(res, host.status, host.message);
    for (const [name, value] of Object.entries(guard.corsHeaders(req.headers.origin)))
      res.setHeader(name, value);
    if (req.method === "OPTIONS") {
      const preflight = guard.preflightHeaders(req.headers.origin);
      if (Object.keys(preflight).length === 0) return jsonRpcError(res, 405, "method not allowed");
      res.writeHead(204, preflight).end();
      return;
    }
    if (path === METADATA_PATH || path.startsWith(`${METADATA_PATH}/`)) {
      if (verifier === undefined) return jsonRpcError(res, 404, "this server does not use OAuth");
      return getOnly(req, res, () =>
        sendJson(
          res,
          200,
          protectedResourceMetadata(resourceUrls(config.publicUrl, req.headers.host), verifier),
        ),
      );
    }
    if (path === MCP_PATH) return handleMcp(req, res);
    return jsonRpcError(res, 404, "not found; the MCP endpoint is /mcp");
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error(
        { err: error instanceof Error ? error.message : String(error), path: req.url },
        "HTTP request failed",
      );
      if (!res.headersSent) jsonRpcError(res, 500, "internal error");
      else res.end();
    });
  });
  server.listen(config.port, config.host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info(
    {
      url,
      mcp: `${url}${MCP_PATH}`,
      auth: [keys && `${keys.size} API key(s)`, verifier && `Entra ID tokens (${verifier.issuerUrl})`].filter(
        Boolean,
      ),
    },
    "MCP server listening (Streamable HTTP)",
  );
  if (!authenticator.enabled)
    logger.warn("HTTP transport without authentication: anyone on this machine can call it");
  if (options.review && !options.review.hasReviewerKeys) {
    // Whoever reads this server's stderr on this machine may review; beyond loopback only keys may.
    if (isLoopbackAddress(config.host)) printSignInLink(options.review, url);
    else logger.warn("review console without reviewer keys (MDE_REVIEW_KEYS_FILE): nobody can sign in");
  }

  return {
    url,
    metrics,
    sessions: () => store.list(),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await store.closeAll("the server is stopping");
      server.closeAllConnections();
      await closed;
      await issuer?.close();
    },
  };
}

function getOnly(
  req: IncomingMessage,
  res: ServerResponse,
  answer: () => void | Promise<void>,
): void | Promise<void> {
  if (req.method === "GET") return answer();
  res.setHeader("allow", "GET");
  jsonRpcError(res, 405, "method not allowed");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
    .end(JSON.stringify(body));
}

/** Errors on the MCP endpoint in the JSON-RPC shape the SDK itself answers with. */
function jsonRpcError(res: ServerResponse, status: number, message: string, code = -32000): void {
  sendJson(res, status, { jsonrpc: "2.0", error: { code, message }, id: null });
}
