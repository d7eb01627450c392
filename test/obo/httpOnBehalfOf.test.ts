import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnBehalfOfTokenProvider } from "../../src/auth/oboTokenProvider.js";
import { DefenderClient } from "../../src/defender/defenderClient.js";
import { MAX_BODY_BYTES } from "../../src/http/httpConfig.js";
import { startHttpServer, type RunningHttpServer } from "../../src/http/httpServer.js";
import { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import { DEFAULT_TOOL_LIMITS, type ToolDeps } from "../../src/tools/toolDeps.js";
import { DEVICES, quietLogger, SCRIPT } from "../defender/clientFixture.js";
import { startTestSimulator, TEST_TIME_SCALE, type TestSimulator } from "../helpers/simulatorHarness.js";
import {
  MCP_APP_ID_URI,
  MCP_SCOPE_NAME,
  oboScenario,
  serverApp,
  USERS,
  userToken,
  type UserName,
} from "./oboFixture.js";

/**
 * On-Behalf-Of end to end: users sign in at the simulator, call the HTTP server's tools with their
 * tokens, and the server reaches the simulated Defender API with each user's own delegated token,
 * so Defender's RBAC stops a user at a device outside their groups.
 */
describe("tool calls over HTTP On-Behalf-Of the signed-in user", () => {
  let t: TestSimulator;
  let http: RunningHttpServer;
  let liveResponse: LiveResponseService;
  let client: DefenderClient;
  let downloadDir: string;
  const clients: Client[] = [];

  const connectAs = async (name: UserName): Promise<Client> => {
    const token = await userToken(t, name);
    const transport = new StreamableHTTPClientTransport(new URL(`${http.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const mcp = new Client({ name: `${name}-ide`, version: "1.0.0" });
    await mcp.connect(transport);
    clients.push(mcp);
    return mcp;
  };

  const run = async (mcp: Client, machineId: string): Promise<CallToolResult> =>
    (await mcp.callTool({
      name: "run_live_response",
      arguments: {
        machine_ids: [machineId],
        commands: [{ type: "RunScript", script_name: SCRIPT }],
        comment: "IR-7 triage",
        wait_seconds: 30,
      },
    })) as CallToolResult;

  beforeAll(async () => {
    t = await startTestSimulator({ scenario: oboScenario() });
    client = new DefenderClient({
      apiBaseUrl: t.sim.apiBase,
      tokenProvider: new OnBehalfOfTokenProvider(serverApp(t)),
      timeScale: TEST_TIME_SCALE,
      ca: t.sim.caCertPem,
      logger: quietLogger,
    });
    downloadDir = await mkdtemp(join(tmpdir(), "obo-downloads-"));
    liveResponse = new LiveResponseService({
      client,
      downloadDir,
      timeScale: TEST_TIME_SCALE,
      blobCa: t.sim.caCertPem,
      logger: quietLogger,
    });
    const deps: ToolDeps = { liveResponse, client, limits: DEFAULT_TOOL_LIMITS, logger: quietLogger };
    http = await startHttpServer({
      config: {
        host: "127.0.0.1",
        port: 0,
        publicUrl: undefined,
        allowedHosts: [],
        allowedOrigins: [],
        sessionIdleMs: 86_400_000,
        maxBodyBytes: MAX_BODY_BYTES,
        apiKeysFile: undefined,
        oauth: {
          authorityHost: t.sim.authorityHost,
          tenantId: t.sim.tenantId,
          audiences: [MCP_APP_ID_URI],
          scope: MCP_SCOPE_NAME,
          role: undefined,
        },
      },
      deps,
      serverOptions: { timeScale: TEST_TIME_SCALE },
      readiness: [],
      logger: quietLogger,
      issuerCa: t.sim.caCertPem,
    });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await http.close();
    liveResponse.close();
    await client.close();
    await t.close();
    await rm(downloadDir, { recursive: true, force: true });
  });

  it("runs Alice's request as Alice, Bob is stopped by RBAC, and only OBO tokens reach Defender", async () => {
    const alice = await connectAs("alice");
    const result = await run(alice, DEVICES.finance);
    expect(result.isError).toBeFalsy();
    const [entry] = (result.structuredContent as { actions: Array<{ action_id: string; status: string }> })
      .actions;
    expect(entry?.status).toBe("Succeeded");
    const action = t.sim.engine.getAction(entry?.action_id ?? "");
    // Defender records the user as the requestor, and the comment names them too.
    expect(action?.requestor).toBe(USERS.alice.upn);
    expect(action?.requestorComment).toMatch(
      new RegExp(`^IR-7 triage by ${USERS.alice.upn} \\[mcp:req_[0-9a-f]{12}\\]$`),
    );

    const bob = await connectAs("bob");
    const refused = await run(bob, DEVICES.finance);
    expect(refused.isError).toBe(true);
    const [bobs] = (
      refused.structuredContent as { actions: Array<{ status: string; action_id: string | null }> }
    ).actions;
    expect(bobs).toMatchObject({ status: "NotSubmitted", action_id: null });
    expect(t.sim.engine.listActions().filter((a) => a.requestor === USERS.bob.upn)).toEqual([]);

    const stats = t.sim.stats();
    expect(stats.callers[USERS.alice.upn]).toBeGreaterThan(0);
    expect(stats.callers[USERS.bob.upn]).toBeGreaterThan(0);
    // Every call a tool made carried its user's Defender token; only the shared poller, which serves
    // every caller, reads as the app (list calls, never a submit); none was refused as the clients' own
    // tokens (issued for this server, not for Defender) would have been.
    const appCallers = Object.keys(stats.callers).filter((c) => c.startsWith("app:"));
    expect(
      Object.keys(stats.callers)
        .filter((c) => !c.startsWith("app:"))
        .sort(),
    ).toEqual([USERS.alice.upn, USERS.bob.upn].sort());
    expect(appCallers.length).toBeLessThanOrEqual(1);
    const appCalls = appCallers.reduce((sum, c) => sum + (stats.callers[c] ?? 0), 0);
    expect(appCalls).toBeLessThanOrEqual(stats.calls.listMachineActions ?? 0);
    expect(stats.unauthorized).toBe(0);
    const totalCalls = Object.values(stats.calls).reduce((a, b) => a + b, 0);
    expect(Object.values(stats.callers).reduce((a, b) => a + b, 0)).toBe(totalCalls);
  });
});
