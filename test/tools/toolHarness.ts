import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  ElicitRequestSchema,
  type CallToolResult,
  type ElicitRequest,
  type ElicitResult,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import { PolicyStore } from "../../src/policy/policyStore.js";
import type { ApprovalStore } from "../../src/review/approvalStore.js";
import { AuditTrail } from "../../src/safety/auditTrail.js";
import type { SimulatorOptions } from "../../src/simulator/index.js";
import { createMcpServer } from "../../src/server/createMcpServer.js";
import { registerTools } from "../../src/tools/registry.js";
import { DEFAULT_TOOL_LIMITS, type ToolDeps, type ToolLimits } from "../../src/tools/toolDeps.js";
import { UNTRUSTED_NOTICE } from "../../src/tools/toolResult.js";
import {
  msalProvider,
  quietLogger,
  startClientFixture,
  type ClientFixture,
} from "../defender/clientFixture.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";

/**
 * The tools as a client meets them: the SDK's real Client and McpServer linked in memory, the real
 * LiveResponseService and DefenderClient (msal-node) against a simulator over HTTPS, downloads into a
 * fresh temporary folder.
 */
export interface ToolHarness {
  fx: ClientFixture;
  mcp: Client;
  downloadDir: string;
  /** Every result any call returned, for the file's final check that none leaked a secret. */
  results: CallToolResult[];
  call(name: string, args: Record<string, unknown>, options?: RequestOptions): Promise<CallToolResult>;
  /** Calls per simulator endpoint so far. */
  calls(): Record<string, number>;
  /** The policy the server follows (DEFAULT_POLICY without `policyFile`). */
  policy: PolicyStore;
  /** The server's audit trail (records nothing without `auditLog`). */
  audit: AuditTrail;
  /** Every request the client sent (tools/call, …), by JSON-RPC id. */
  clientRequests: Array<{ id: RequestId; method: string }>;
  /** Every request the server sent the client (elicitation/create, …), with the request it was tied to. */
  serverRequests: Array<{ method: string; relatedRequestId: RequestId | undefined }>;
  totalCalls(): number;
  close(): Promise<void>;
}

export interface ToolHarnessOptions {
  sim?: SimulatorOptions;
  /** For the simulator and the service alike; default TEST_TIME_SCALE. */
  timeScale?: number;
  limits?: Partial<ToolLimits>;
  /** The service's session cap; default the service's. */
  maxSessions?: number;
  /** The app whose credentials the server uses; default the scenario's first. */
  app?: { clientId: string; clientSecret: string };
  /** Serve with createMcpServer, as the product does: MCP tasks supported, run_live_response may run as one. */
  tasks?: boolean;
  /** MDE_POLICY_FILE: the server follows this file, reloading it when it changes. */
  policyFile?: string;
  /** How often the policy file is checked for changes fs.watch missed; default the store's. */
  policyStatIntervalMs?: number;
  /** MDE_AUDIT_LOG. */
  auditLog?: string;
  /** The review console's requests (approval mode console). */
  review?: ApprovalStore;
  /** Secrets the audit log refuses to hold; default the app's client secret. */
  auditSecrets?: string[];
  /** The MCP client's name and version at initialize. */
  clientInfo?: { name: string; version: string };
  /**
   * The person at the client: when set, the client declares form elicitation and answers every
   * elicitation/create with this; without it, the client cannot be asked anything.
   */
  elicit?: (params: ElicitRequest["params"]) => ElicitResult | Promise<ElicitResult>;
}

export async function startToolHarness(options: ToolHarnessOptions = {}): Promise<ToolHarness> {
  const timeScale = options.timeScale ?? TEST_TIME_SCALE;
  const fx = await startClientFixture({ ...options.sim, timeScale });
  const client = fx.client(options.app ? { tokenProvider: msalProvider(fx.t, options.app) } : {});
  const downloadDir = await mkdtemp(join(tmpdir(), "tools-downloads-"));
  const liveResponse = new LiveResponseService({
    client,
    downloadDir,
    timeScale,
    blobCa: fx.t.sim.caCertPem,
    logger: quietLogger,
    // Held actions are read in the background only this rarely, so call counts stay exact.
    idlePollIntervalSeconds: 3600,
    ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
  });
  const policy = await PolicyStore.open({
    file: options.policyFile,
    logger: quietLogger,
    ...(options.policyStatIntervalMs === undefined ? {} : { statIntervalMs: options.policyStatIntervalMs }),
  });
  const audit = new AuditTrail({
    path: options.auditLog,
    secrets: options.auditSecrets ?? [options.app?.clientSecret ?? fx.t.sim.clientSecret],
    logger: quietLogger,
  });
  const deps: ToolDeps = {
    liveResponse,
    client,
    limits: { ...DEFAULT_TOOL_LIMITS, ...options.limits },
    logger: quietLogger,
    ...(options.policyFile === undefined ? {} : { policy }),
    ...(options.auditLog === undefined ? {} : { audit }),
    ...(options.review === undefined ? {} : { review: options.review }),
  };
  const server = options.tasks ? createMcpServer(deps, { timeScale }) : toolsOnlyServer(deps);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const clientRequests: ToolHarness["clientRequests"] = [];
  const serverRequests: ToolHarness["serverRequests"] = [];
  const clientSend = clientSide.send.bind(clientSide);
  clientSide.send = (message, sendOptions) => {
    if ("method" in message && "id" in message)
      clientRequests.push({ id: message.id, method: message.method });
    return clientSend(message, sendOptions);
  };
  const serverSend = serverSide.send.bind(serverSide);
  serverSide.send = (message, sendOptions) => {
    if ("method" in message && "id" in message) {
      serverRequests.push({ method: message.method, relatedRequestId: sendOptions?.relatedRequestId });
    }
    return serverSend(message, sendOptions);
  };
  const mcp = new Client(options.clientInfo ?? { name: "tools-test-client", version: "0.0.0" }, {
    capabilities: options.elicit ? { elicitation: {} } : {},
  });
  const { elicit } = options;
  if (elicit) mcp.setRequestHandler(ElicitRequestSchema, (request) => elicit(request.params));
  await Promise.all([server.connect(serverSide), mcp.connect(clientSide)]);
  const results: CallToolResult[] = [];
  const calls = () => fx.t.sim.stats().calls;
  return {
    fx,
    mcp,
    downloadDir,
    results,
    async call(name, args, requestOptions) {
      const result = (await mcp.callTool(
        { name, arguments: args },
        undefined,
        requestOptions,
      )) as CallToolResult;
      results.push(result);
      return result;
    },
    calls,
    totalCalls: () => Object.values(calls()).reduce((a, b) => a + b, 0),
    policy,
    audit,
    clientRequests,
    serverRequests,
    async close() {
      liveResponse.close();
      await audit.close();
      await policy.close();
      await mcp.close();
      await server.close();
      await fx.close();
      await rm(downloadDir, { recursive: true, force: true });
    },
  };
}

function toolsOnlyServer(deps: ToolDeps): McpServer {
  const server = new McpServer({ name: "tools-test", version: "0.0.0" });
  registerTools(server, deps);
  return server;
}

export function textOf(result: CallToolResult): string {
  const [first] = result.content;
  if (first?.type !== "text") throw new Error("expected a text result");
  return first.text;
}

/** The text before the untrusted block: what this server itself says. */
export function summaryOf(result: CallToolResult): string {
  const text = textOf(result);
  const at = text.indexOf(UNTRUSTED_NOTICE);
  return at === -1 ? text : text.slice(0, at);
}

/** The fenced data block, markers included; throws when the result has none. */
export function untrustedBlockOf(result: CallToolResult): { body: string; nonce: string } {
  const match =
    /<<<UNTRUSTED ENDPOINT DATA ([0-9a-f]{16})>>>\n([\s\S]*)\n<<<END UNTRUSTED ENDPOINT DATA \1>>>$/.exec(
      textOf(result),
    );
  if (!match) throw new Error("expected an untrusted data block");
  return { nonce: match[1]!, body: match[2]! };
}

/** The structured content as the test expects it to be shaped. */
export function structured<T>(result: CallToolResult): T {
  if (result.structuredContent === undefined) throw new Error(`no structured content: ${textOf(result)}`);
  return result.structuredContent as T;
}
