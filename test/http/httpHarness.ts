import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseSettings, type SettingName, type Settings } from "../../src/config/settings.js";
import { startHttpService, type HttpService } from "../../src/http/runHttpServer.js";
import { quietLogger } from "../defender/clientFixture.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";

/**
 * The HTTP transport as the product wires it (`startHttpService`: the runtime from settings, the
 * embedded simulator, the HTTP server on a free loopback port), and MCP clients that reach it with
 * the SDK's StreamableHTTPClientTransport.
 */
export interface HttpHarness {
  service: HttpService;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  mcpUrl: string;
  /** A connected MCP client sending these headers on every request. */
  connect(headers?: Record<string, string>): Promise<ConnectedClient>;
  close(): Promise<void>;
}

export interface ConnectedClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  sessionId: string;
}

export interface HttpHarnessOptions {
  settings?: Partial<Record<SettingName, string>>;
  issuerCa?: string;
}

export async function startHttpHarness(options: HttpHarnessOptions = {}): Promise<HttpHarness> {
  const dir = await mkdtemp(join(tmpdir(), "http-harness-"));
  const settings = testSettings({
    MDE_DOWNLOAD_DIR: dir,
    // Long enough that no test's session lapses between two requests; the idle test sets its own.
    MDE_HTTP_SESSION_IDLE_SECONDS: "86400",
    ...options.settings,
  });
  let service: HttpService;
  try {
    service = await startHttpService(settings, {
      logger: quietLogger,
      ...(options.issuerCa === undefined ? {} : { issuerCa: options.issuerCa }),
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const clients: Client[] = [];
  const url = service.server.url;
  return {
    service,
    url,
    mcpUrl: `${url}/mcp`,
    async connect(headers = {}) {
      const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: { headers },
      });
      const client = new Client({ name: "http-test-client", version: "0.0.0" });
      await client.connect(transport);
      clients.push(client);
      const sessionId = transport.sessionId;
      if (sessionId === undefined) throw new Error("the server gave no session id");
      return { client, transport, sessionId };
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await service.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Settings as the CLI would parse them: the embedded simulator at the test time scale, port 0. */
export function testSettings(values: Partial<Record<SettingName, string>> = {}): Settings {
  const { settings, problems } = parseSettings({
    MDE_SIMULATOR: "1",
    MDE_TIME_SCALE: String(TEST_TIME_SCALE),
    MDE_TRANSPORT: "http",
    MDE_HTTP_PORT: "0",
    LOG_LEVEL: "silent",
    ...values,
  });
  if (settings === undefined) throw new Error(problems.join("; "));
  return settings;
}

/** An API keys file in `dir` for these keys (principal → key); returns its path. */
export async function writeApiKeysFile(dir: string, keys: Record<string, string>): Promise<string> {
  const path = join(dir, "api-keys.yaml");
  const lines = Object.entries(keys).map(
    ([principal, key]) =>
      `  - principal: ${principal}\n    sha256: ${createHash("sha256").update(key).digest("hex")}`,
  );
  await writeFile(path, `keys:\n${lines.join("\n")}\n`);
  return path;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A plain HTTP request, for what an MCP client would never send (foreign Host, stolen session id…). */
export async function rawRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const res = await request(url, {
    method: (init.method ?? "GET") as "GET",
    headers: init.headers ?? {},
    body: init.body ?? null,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Headers of a JSON-RPC POST to /mcp, as the Streamable HTTP transport requires them. */
export const MCP_POST_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

export const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
});

export const TOOLS_LIST = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} });
