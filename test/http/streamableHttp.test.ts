import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { until } from "../helpers/until.js";
import { structured } from "../tools/toolHarness.js";
import {
  INITIALIZE,
  MCP_POST_HEADERS,
  rawRequest,
  startHttpHarness,
  TOOLS_LIST,
  type HttpHarness,
} from "./httpHarness.js";

interface Actions {
  actions: Array<{ status: string; machine_id: string; commands: Array<{ status: string }> }>;
}

/** A counter's value in a Prometheus text exposition; 0 when the series is absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("Streamable HTTP transport on loopback (no authentication configured)", () => {
  let h: HttpHarness;
  beforeAll(async () => {
    h = await startHttpHarness({ settings: { MDE_HTTP_ALLOWED_ORIGINS: "https://console.contoso.test" } });
  });
  afterAll(() => h.close());

  it("lists the tools and runs a live response action with progress on the call's SSE stream", async () => {
    const { client } = await h.connect();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      "find_machines",
      "list_library_files",
      "run_live_response",
      "get_action",
      "cancel_action",
    ]);
    const progress: Progress[] = [];
    const result = (await client.callTool(
      {
        name: "run_live_response",
        arguments: {
          machine_ids: [DEVICES.finance],
          commands: [{ type: "RunScript", script_name: SCRIPT }],
          comment: "HTTP transport test",
          wait_seconds: 30,
        },
      },
      undefined,
      { onprogress: (p) => progress.push(p) },
    )) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const [entry] = structured<Actions>(result).actions;
    expect(entry).toMatchObject({ machine_id: DEVICES.finance, status: "Succeeded" });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.progress).toBeGreaterThanOrEqual(progress[0]!.progress);
  });

  it("binds each session to one McpServer and ends it on DELETE", async () => {
    const { client, transport, sessionId } = await h.connect();
    expect(h.service.server.sessions().map((s) => s.id)).toContain(sessionId);
    expect(h.service.server.sessions().find((s) => s.id === sessionId)?.principal).toMatchObject({
      kind: "anonymous",
    });
    await transport.terminateSession();
    expect(h.service.server.sessions().map((s) => s.id)).not.toContain(sessionId);
    const after = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" },
      body: TOOLS_LIST,
    });
    expect(after.status).toBe(404);
    await client.close();
  });

  it("refuses a request without a session that is not an initialize, and an unknown session id", async () => {
    const noSession = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: MCP_POST_HEADERS,
      body: TOOLS_LIST,
    });
    expect(noSession.status).toBe(400);
    const unknown = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS, "mcp-session-id": "4f7c2a1e-0000-4000-8000-000000000000" },
      body: TOOLS_LIST,
    });
    expect(unknown.status).toBe(404);
  });

  it("refuses a Host header that names another server (DNS rebinding) with 403", async () => {
    const rebound = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS, host: `attacker.example:${new URL(h.url).port}` },
      body: INITIALIZE,
    });
    expect(rebound.status).toBe(403);
    expect(rebound.text).toContain("Host header not allowed");
    const loopbackName = await rawRequest(`http://localhost:${new URL(h.url).port}/mcp`, {
      method: "POST",
      headers: MCP_POST_HEADERS,
      body: INITIALIZE,
    });
    expect(loopbackName.status).toBe(200);
  });

  it("refuses a foreign Origin with 403, and answers CORS only for a configured origin", async () => {
    const foreign = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS, origin: "https://attacker.example" },
      body: INITIALIZE,
    });
    expect(foreign.status).toBe(403);
    expect(foreign.text).toContain("Origin not allowed");
    expect(foreign.headers["access-control-allow-origin"]).toBeUndefined();

    const preflight = await rawRequest(h.mcpUrl, {
      method: "OPTIONS",
      headers: { origin: "https://console.contoso.test", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("https://console.contoso.test");
    expect(preflight.headers["access-control-allow-headers"]).toContain("mcp-session-id");

    const configured = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS, origin: "https://console.contoso.test" },
      body: INITIALIZE,
    });
    expect(configured.status).toBe(200);
    expect(configured.headers["access-control-expose-headers"]).toContain("mcp-session-id");
  });

  it("refuses a body over 4 MiB with 413 before parsing it", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await rawRequest(h.mcpUrl, { method: "POST", headers: MCP_POST_HEADERS, body: big });
    expect(res.status).toBe(413);
  });

  it("answers /healthz, /readyz (a Defender token can be had) and /metrics", async () => {
    const health = await rawRequest(`${h.url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: "ok" });

    const ready = await rawRequest(`${h.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: "ready", checks: { defender_token: "ok" } });

    const metricsUrl = `${h.url}/metrics`;
    const before = (await rawRequest(metricsUrl)).text;
    const { client } = await h.connect();
    const result = (await client.callTool({
      name: "find_machines",
      arguments: { name: "fin-ws" },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const after = await rawRequest(metricsUrl);
    expect(after.status).toBe(200);
    expect(after.headers["content-type"]).toContain("text/plain");
    const calls = 'mde_tool_calls_total{tool="find_machines",outcome="ok"}';
    expect(sample(after.text, calls)).toBe(sample(before, calls) + 1);
    const reads = 'mde_defender_api_calls_total{budget="reads"}';
    expect(sample(after.text, reads)).toBeGreaterThan(sample(before, reads));
    for (const name of [
      'mde_defender_api_throttled_total{budget="submit"}',
      "mde_submit_window_limit",
      "mde_submit_window_used",
      "mde_live_response_sessions_in_use",
      "mde_live_response_sessions_max",
      "mde_live_response_queue_depth",
      "mde_approvals_pending",
      "mde_mcp_sessions",
    ]) {
      expect(after.text).toMatch(new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} \\d+`, "m"));
    }
    expect(sample(after.text, "mde_submit_window_limit")).toBe(10);
    expect(sample(after.text, "mde_mcp_sessions")).toBe(h.service.server.sessions().length);
  });
});

describe("idle sessions", () => {
  it("closes a session nobody used for MDE_HTTP_SESSION_IDLE_SECONDS", async () => {
    // 60 s at the test time scale: 100 ms.
    const h = await startHttpHarness({ settings: { MDE_HTTP_SESSION_IDLE_SECONDS: "60" } });
    try {
      const init = await rawRequest(h.mcpUrl, {
        method: "POST",
        headers: MCP_POST_HEADERS,
        body: INITIALIZE,
      });
      expect(init.status).toBe(200);
      const sessionId = init.headers["mcp-session-id"];
      expect(typeof sessionId).toBe("string");
      expect(h.service.server.sessions().map((s) => s.id)).toEqual([sessionId]);
      await until(() => h.service.server.sessions().length === 0);
      const later = await rawRequest(h.mcpUrl, {
        method: "POST",
        headers: { ...MCP_POST_HEADERS, "mcp-session-id": String(sessionId) },
        body: TOOLS_LIST,
      });
      expect(later.status).toBe(404);
    } finally {
      await h.close();
    }
  });
});
