import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_PATH, ensureBuilt } from "../../scripts/ensureBuilt.js";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { auditEntries } from "./safetyFixture.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const LOOPBACK_GUARD = join(ROOT, "test", "setup", "loopbackOnly.ts");

/**
 * The server as a client runs it (`node dist/cli.js serve` over stdio, the embedded simulator), killed
 * with SIGKILL the moment run_live_response has answered: no shutdown code runs, so whatever is in
 * the audit log got there, fsynced, before the answer.
 */
describe("kill -9 right after a submit", () => {
  let dir: string;
  beforeAll(async () => {
    await ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), "kill-after-submit-"));
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("leaves the submit in the audit log, with its action id and correlation tag, in a valid chain", async () => {
    const auditLog = join(dir, "audit.jsonl");
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--import", "tsx", "--import", LOOPBACK_GUARD, CLI_PATH, "serve", "--simulator"],
      cwd: ROOT,
      env: {
        MDE_TIME_SCALE: "600",
        MDE_DOWNLOAD_DIR: join(dir, "downloads"),
        MDE_AUDIT_LOG: auditLog,
        LOG_LEVEL: "warn",
      },
      stderr: "ignore",
    });
    const client = new Client({ name: "kill-test", version: "1.0.0" });
    await client.connect(transport);
    const exited = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
    });
    const result = (await client.callTool({
      name: "run_live_response",
      arguments: {
        machine_ids: [DEVICES.finance],
        commands: [{ type: "RunScript", script_name: SCRIPT }],
        comment: "IR-3001 kill test",
        wait_seconds: 0,
      },
    })) as CallToolResult;
    const pid = transport.pid;
    expect(pid).not.toBeNull();
    process.kill(pid!, "SIGKILL");
    await exited;

    const [entry] = (result.structuredContent as { actions: ActionEntry[] }).actions;
    expect(entry?.action_id).toBeTruthy();
    const entries = await auditEntries(auditLog);
    expect(entries.map((e) => e.kind)).toEqual(["request", "policy_decision", "submitted"]);
    expect(entries[2]).toMatchObject({
      action_id: entry?.action_id,
      machine_id: DEVICES.finance,
      correlation_tag: `[mcp:${entry?.request_id}]`,
      who: { client_name: "kill-test", client_version: "1.0.0" },
      why: "IR-3001 kill test",
    });
    expect(await verifyAuditLog(auditLog)).toEqual({ ok: true, records: 3 });
  });
});
