import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The server as an MCP client starts it: `serve --simulator` in a child process over stdio. The child
 * also loads the test suite's loopback guard, so it cannot reach anything but the embedded simulator.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "src", "cli.ts");
const loopbackGuard = join(root, "test", "setup", "loopbackOnly.ts");
const serverArgs = ["--import", "tsx", "--import", loopbackGuard, cli, "serve", "--simulator"];
const FINANCE = "9d663375e3e46799a6657b0c0c74b873c9fcd069";
const TOOLS = ["cancel_action", "find_machines", "get_action", "list_library_files", "run_live_response"];

type Structured = Record<string, unknown>;
type ActionEntry = {
  request_id: string;
  action_id: string | null;
  machine_id: string;
  status: string;
  commands: Array<{ index: number; type: string; status: string; result: Structured | null }>;
};

let downloads: string;
beforeAll(async () => {
  downloads = await mkdtemp(join(tmpdir(), "stdio-downloads-"));
});
afterAll(() => rm(downloads, { recursive: true, force: true }));

describe("serve --simulator through the SDK's Client over stdio", () => {
  let client: Client;
  let stderr = "";

  beforeAll(async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: serverArgs,
      cwd: root,
      env: { MDE_TIME_SCALE: "600", MDE_DOWNLOAD_DIR: downloads },
      stderr: "pipe",
    });
    transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: "stdio-test", version: "1.0.0" });
    await client.connect(transport);
  });
  afterAll(() => client.close());

  const call = async (name: string, args: Structured): Promise<Structured> => {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    expect(result.isError ?? false, JSON.stringify(result.content)).toBe(false);
    return result.structuredContent as Structured;
  };

  it("initializes with its name, version, logging capability and start-then-poll instructions", () => {
    expect(client.getServerVersion()?.name).toBe("mde-live-response-mcp");
    expect(client.getServerCapabilities()?.logging).toEqual({});
    const instructions = client.getInstructions() ?? "";
    expect(instructions).toContain("call get_action");
    expect(instructions).toContain("default 45 s");
    expect(instructions).toMatch(/untrusted/i);
    expect(stderr).toContain("serving a SIMULATED tenant");
  });

  it("lists the five tools, each with all four annotations set", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      for (const hint of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const) {
        expect(typeof tool.annotations?.[hint], `${tool.name}.${hint}`).toBe("boolean");
      }
      expect(tool.outputSchema, tool.name).toBeDefined();
    }
  });

  it("find_machines finds a device by name prefix", async () => {
    const { machines } = (await call("find_machines", { name: "fin-ws" })) as {
      machines: Array<{ machine_id: string; computer_dns_name: string }>;
    };
    expect(machines).toContainEqual(
      expect.objectContaining({ machine_id: FINANCE, computer_dns_name: "fin-ws-0142.contoso.com" }),
    );
  });

  it("run_live_response runs a script to Succeeded with parsed output, and get_action finds it by request id", async () => {
    const { actions } = (await call("run_live_response", {
      machine_ids: [FINANCE],
      commands: [{ type: "RunScript", script_name: "Get-ProcessList.ps1" }],
      comment: "stdio end-to-end test",
      wait_seconds: 30,
    })) as { actions: ActionEntry[] };
    expect(actions).toHaveLength(1);
    const [entry] = actions as [ActionEntry];
    expect(entry).toMatchObject({ machine_id: FINANCE, status: "Succeeded" });
    expect(entry.action_id).toMatch(/^[0-9a-f-]{36}$/);
    const result = entry.commands[0]?.result as { exit_code: number; output: string; truncated: boolean };
    expect(result.exit_code).toBe(0);
    expect(result.output).toContain("Process list for fin-ws-0142");
    expect(result.output).toContain("lsass.exe");

    const { action } = (await call("get_action", { action_id: entry.request_id, wait_seconds: 0 })) as {
      action: ActionEntry;
    };
    expect(action).toMatchObject({
      request_id: entry.request_id,
      action_id: entry.action_id,
      status: "Succeeded",
    });
  });
});

const spawnServer = (env: NodeJS.ProcessEnv = {}) =>
  spawn(process.execPath, serverArgs, {
    cwd: root,
    env: { PATH: process.env.PATH, MDE_TIME_SCALE: "600", MDE_DOWNLOAD_DIR: downloads, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });

describe("the stdio server process", () => {
  it("shuts down cleanly on SIGTERM and exits 0", async () => {
    const child = spawnServer();
    let stderr = "";
    await new Promise<void>((resolve) =>
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("MCP server ready")) resolve();
      }),
    );
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(stderr).toContain('"reason":"SIGTERM"');
    expect(stderr).toContain('"msg":"stopped"');
    expect(code).toBe(0);
  });

  it("answers raw JSON lines with JSON-RPC 2.0 only, logs pino JSON on stderr, and exits 0 when stdin closes", async () => {
    // The chattiest log level: every log line must still stay off stdout.
    const child = spawnServer({ LOG_LEVEL: "debug" });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const stdoutLines: string[] = [];
    const answered = new Set<unknown>();
    const allAnswered = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        stdoutLines.push(line);
        try {
          answered.add((JSON.parse(line) as { id?: unknown }).id);
        } catch {
          // asserted below: every line must parse
        }
        if ([1, 2, 3, 4].every((id) => answered.has(id))) resolve();
      });
    });
    const send = (message: Structured): void => void child.stdin.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
    });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    send({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "find_machines", arguments: { name: "dc" } },
    });
    send({
      jsonrpc: "2.0",
      id: 4,
      method: "tools/call",
      params: {
        name: "run_live_response",
        arguments: {
          machine_ids: [FINANCE],
          commands: [
            { type: "RunScript", script_name: "Get-NetConnections.ps1" },
            { type: "GetFile", path: "C:\\Windows\\Temp\\invoice_2291.pdf.exe" },
          ],
          comment: "raw stdio test",
          wait_seconds: 30,
        },
      },
    });
    await allAnswered;
    child.stdin.end();
    const [code] = (await once(child, "exit")) as [number | null];

    expect(stdoutLines.length).toBeGreaterThanOrEqual(4);
    for (const line of stdoutLines) {
      const message = JSON.parse(line) as Structured;
      expect(message.jsonrpc, line).toBe("2.0");
      expect("result" in message || "error" in message || "method" in message, line).toBe(true);
    }
    const responses = stdoutLines.map((l) => JSON.parse(l) as { id?: number; result?: Structured });
    const byId = (id: number) => responses.find((r) => r.id === id)?.result;
    expect((byId(2)?.tools as unknown[]).length).toBe(5);
    expect(byId(3)?.isError).not.toBe(true);
    expect(JSON.stringify(byId(4)?.structuredContent)).toContain('"status":"Succeeded"');

    const logLines = stderr.split("\n").filter((l) => l.trim() !== "");
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      expect(JSON.parse(line) as Structured, line).toMatchObject({
        level: expect.any(Number),
        msg: expect.any(String),
      });
    }
    expect(stderr).toContain('"reason":"stdin closed"');
    expect(stderr).not.toContain("still running");
    expect(code).toBe(0);
  });
});
