import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { registerTools } from "../../src/tools/registry.js";
import { DEFAULT_TOOL_LIMITS } from "../../src/tools/toolDeps.js";
import { quietLogger, startClientFixture, type ClientFixture } from "../defender/clientFixture.js";
import { generatedDeviceId, scenarioWith, TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";

// The limits hold for the server as a whole, not per caller: three MCP clients firing 40 calls each at
// once, on overlapping devices, through one server's limiters, sessions and device turns.
const CLIENTS = 3;
const CALLS_PER_CLIENT = 40;
const DEVICES = 30;

describe("3 MCP clients × 40 concurrent run_live_response calls", () => {
  let fx: ClientFixture;
  let downloadDir: string;
  const clients: Client[] = [];
  const servers: McpServer[] = [];

  beforeAll(async () => {
    fx = await startClientFixture({
      scenario: scenarioWith({ devices: DEVICES }),
      timeScale: TEST_TIME_SCALE,
    });
    downloadDir = await mkdtemp(join(tmpdir(), "concurrent-clients-"));
    const client = fx.client();
    const liveResponse = new LiveResponseService({
      client,
      downloadDir,
      timeScale: TEST_TIME_SCALE,
      blobCa: fx.t.sim.caCertPem,
      logger: quietLogger,
    });
    for (let i = 0; i < CLIENTS; i++) {
      const server = new McpServer({ name: "concurrency-test", version: "0.0.0" });
      registerTools(server, { liveResponse, client, limits: DEFAULT_TOOL_LIMITS, logger: quietLogger });
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      const mcp = new Client({ name: `agent-${i}`, version: "0.0.0" });
      await Promise.all([server.connect(serverSide), mcp.connect(clientSide)]);
      servers.push(server);
      clients.push(mcp);
    }
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const s of servers) await s.close();
    await fx.close();
    await rm(downloadDir, { recursive: true, force: true });
  });

  it("never exceeds 10 submits in any window or the session cap, gets no 429 and submits nothing twice", async () => {
    fx.t.sim.reset();
    const calls = clients.flatMap((mcp, c) =>
      Array.from({ length: CALLS_PER_CLIENT }, (_, i) => {
        const device = generatedDeviceId((c * CALLS_PER_CLIENT + i) % DEVICES);
        return mcp.callTool(
          {
            name: "run_live_response",
            arguments: {
              machine_ids: [device],
              commands: [{ type: "RunScript", script_name: "Get-ProcessList.ps1" }],
              comment: `agent ${c} call ${i}`,
              wait_seconds: 30,
            },
          },
          undefined,
          { timeout: 60_000 },
        ) as Promise<CallToolResult>;
      }),
    );
    const results = await Promise.all(calls);

    const entries = results.flatMap((r) => (r.structuredContent as { actions: ActionEntry[] }).actions);
    expect(entries).toHaveLength(CLIENTS * CALLS_PER_CLIENT);
    expect(entries.filter((e) => e.status === "Succeeded")).toHaveLength(CLIENTS * CALLS_PER_CLIENT);

    const stats = fx.t.sim.stats();
    expect(stats.submitsAccepted).toBe(CLIENTS * CALLS_PER_CLIENT);
    expect(stats.maxSubmitsInAnyWindow).toBeLessThanOrEqual(10);
    expect(stats.maxActiveSessions).toBeLessThanOrEqual(25);
    expect(stats.throttledTotal).toBe(0);
    expect(stats.duplicateSubmissions).toBe(0);
  });
});
