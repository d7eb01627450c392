import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import { loadConfig } from "../../src/config/loadConfig.js";
import { createMcpServer } from "../../src/server/createMcpServer.js";
import { createRuntime, type Runtime } from "../../src/server/runtime.js";
import { capturingLogger, DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { until } from "../helpers/until.js";
import { auditEntries } from "./safetyFixture.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "runtime-safety-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The product's own wiring: settings (a config file naming the policy and the log) → runtime → server. */
async function serve(
  config: Record<string, string> | undefined,
  files: Record<string, string> = {},
): Promise<{
  runtime: Runtime;
  folder: string;
  mcp: Client;
  logs: Array<{ msg: string; level: number }>;
  close(): Promise<void>;
}> {
  const folder = await mkdtemp(join(dir, "config-"));
  for (const [name, text] of Object.entries(files)) await writeFile(join(folder, name), text);
  const argv = ["--simulator", "--time-scale", "600", "--download-dir", join(folder, "downloads")];
  if (config) {
    await writeFile(join(folder, "config.json"), JSON.stringify(config));
    argv.push("--config", join(folder, "config.json"));
  }
  const { logger, lines } = capturingLogger();
  // Relative paths in a config file are resolved against its folder, not the working directory.
  const runtime = await createRuntime(loadConfig({ argv, env: {}, cwd: dir }), { logger });
  const server = createMcpServer(runtime.deps, { timeScale: 600 });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const mcp = new Client({ name: "runtime-safety", version: "1.0.0" });
  await Promise.all([server.connect(serverSide), mcp.connect(clientSide)]);
  return {
    runtime,
    folder,
    mcp,
    logs: lines.map((l) => JSON.parse(l) as { msg: string; level: number }),
    async close() {
      await mcp.close();
      await server.close();
      await runtime.close();
    },
  };
}

describe("the runtime's policy and audit log", () => {
  it("without MDE_AUDIT_LOG, warns at start that nothing is recorded", async () => {
    const s = await serve(undefined);
    try {
      const warning = s.logs.find((l) => l.msg.startsWith("no audit log"));
      expect(warning?.level).toBe(40);
      expect(s.logs.some((l) => l.msg.startsWith("no policy file (MDE_POLICY_FILE)"))).toBe(true);
      expect((await s.mcp.listTools()).tools).toHaveLength(5);
    } finally {
      await s.close();
    }
  });

  it("a read-only policy file leaves only the read tools in tools/list", async () => {
    const folder = await mkdtemp(join(dir, "policies-"));
    await writeFile(join(folder, "investigation.yaml"), "read_only: true\n");
    const s = await serve({ MDE_POLICY_FILE: join(folder, "investigation.yaml") });
    try {
      const names = (await s.mcp.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual(["find_machines", "get_action", "list_library_files"]);
    } finally {
      await s.close();
    }
  });

  it("resolves the policy file and the audit log against the config file's folder, and records there", async () => {
    const s = await serve(
      { MDE_POLICY_FILE: "policy.yaml", MDE_AUDIT_LOG: "logs/audit.jsonl" },
      { "policy.yaml": `scripts:\n  - name: ${SCRIPT}\n` },
    );
    const auditLog = join(s.folder, "logs", "audit.jsonl");
    try {
      expect(s.runtime.deps.policy?.current().scripts?.[0]?.name).toBe(SCRIPT);
      expect(s.logs.some((l) => l.msg.startsWith("no audit log"))).toBe(false);
      const denied = (await s.mcp.callTool({
        name: "run_live_response",
        arguments: {
          machine_ids: [DEVICES.finance],
          commands: [{ type: "RunScript", script_name: "Get-Autoruns.ps1" }],
          comment: "outside the allowlist",
        },
      })) as CallToolResult;
      expect(denied.isError).toBe(true);
      expect((await auditEntries(auditLog)).map((e) => e.kind)).toEqual(["request", "policy_decision"]);
    } finally {
      await s.close();
    }
    expect(await verifyAuditLog(auditLog)).toEqual({ ok: true, records: 2 });
  });

  it("records an action's final status when nobody asks about it again (the shared poller sees it)", async () => {
    const s = await serve({ MDE_AUDIT_LOG: "audit.jsonl" });
    const auditLog = join(s.folder, "audit.jsonl");
    try {
      const started = (await s.mcp.callTool({
        name: "run_live_response",
        arguments: {
          machine_ids: [DEVICES.finance],
          commands: [{ type: "RunScript", script_name: SCRIPT }],
          comment: "left to finish on its own",
          wait_seconds: 0,
        },
      })) as CallToolResult;
      const [entry] = (started.structuredContent as { actions: Array<{ action_id: string; status: string }> })
        .actions;
      expect(entry!.status).not.toBe("Succeeded");
      // No further tool call: the poller reads the held action until it is final.
      await until(() => existsSync(auditLog) && readFileSync(auditLog, "utf8").includes('"final_status"'));
      const finals = (await auditEntries(auditLog)).filter((e) => e.kind === "final_status");
      expect(finals).toEqual([
        expect.objectContaining({
          action_id: entry!.action_id,
          status: "Succeeded",
          who: expect.objectContaining({ client_name: "mde-live-response-mcp (poller)" }),
        }),
      ]);
    } finally {
      await s.close();
    }
    expect(await verifyAuditLog(auditLog)).toMatchObject({ ok: true });
  });
});
