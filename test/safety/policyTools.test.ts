import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ToolListChangedNotificationSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import { DEFAULT_POLICY, PolicySchema, type Policy } from "../../src/policy/policySchema.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { registerTools } from "../../src/tools/registry.js";
import { DEFAULT_TOOL_LIMITS } from "../../src/tools/toolDeps.js";
import { DEVICES, OTHER_SCRIPT, SCRIPT, quietLogger } from "../defender/clientFixture.js";
import { until } from "../helpers/until.js";
import { startToolHarness, structured, textOf, type ToolHarness } from "../tools/toolHarness.js";
import { auditEntries, lastCallId, librarySha256, recordsOf, setPolicy } from "./safetyFixture.js";

type Actions = { actions: ActionEntry[] };

const INVOICE = "C:\\Windows\\Temp\\invoice_2291.pdf.exe";
const READ_TOOLS = ["find_machines", "list_library_files", "get_action"];

/**
 * Every rule of the policy file, end to end: a real MCP client calls the tools of a server that
 * follows a policy file (rewritten between tests and reloaded, as an operator would edit it) and
 * keeps an audit log; the simulator counts every API call the server makes.
 */
describe("the policy in the MCP server", () => {
  let dir: string;
  let policyFile: string;
  let auditLog: string;
  let h: ToolHarness;
  let listChanged = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "policy-tools-"));
    policyFile = join(dir, "policy.yaml");
    auditLog = join(dir, "audit.jsonl");
    await writeFile(policyFile, "{}\n");
    h = await startToolHarness({ policyFile, policyStatIntervalMs: 20, auditLog });
    h.mcp.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged += 1;
    });
  });
  afterAll(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    listChanged = 0;
  });

  const run = (machineIds: string[], commands: unknown[], extra: Record<string, unknown> = {}) =>
    h.call("run_live_response", { machine_ids: machineIds, commands, comment: "policy test", ...extra });

  /** Runs `act` and returns the simulator calls it caused, by endpoint (only those that changed). */
  async function callsDuring(act: () => Promise<unknown>): Promise<Record<string, number>> {
    const before = h.calls();
    await act();
    const after = h.calls();
    return Object.fromEntries(
      Object.entries(after)
        .map(([name, n]) => [name, n - (before[name] ?? 0)] as const)
        .filter(([, n]) => n !== 0),
    );
  }

  /** The call was refused by `rule`, named in the result; its audit records end in that denial. */
  async function expectDenied(result: CallToolResult, rule: string): Promise<void> {
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toMatch(/^Error POLICY_DENIED: the policy denied this request \(rule /);
    expect(text).toContain(`(rule ${rule})`);
    expect(text).toContain("Next step: nothing was sent to Defender");
    const entries = await auditEntries(auditLog);
    const records = recordsOf(entries, lastCallId(entries));
    expect(records.map((r) => r.kind)).toEqual(["request", "policy_decision"]);
    expect(records[1]).toMatchObject({ outcome: "deny", rule, policy_sha256: h.policy.sha256 });
  }

  it("runs what the policy allows, and records request, decision, submit, final status and result", async () => {
    await setPolicy(h, policyFile, `scripts:\n  - name: ${SCRIPT}\n`);
    let result: CallToolResult | undefined;
    const calls = await callsDuring(async () => {
      result = await run([DEVICES.finance], [{ type: "RunScript", script_name: SCRIPT }]);
    });
    const [entry] = structured<Actions>(result!).actions;
    expect(entry?.status).toBe("Succeeded");
    expect(calls.runliveresponse).toBe(1);
    // An allowlist by name needs nothing read before the submit.
    expect(calls.listLibraryFiles).toBeUndefined();
    const entries = await auditEntries(auditLog);
    const records = recordsOf(entries, lastCallId(entries));
    expect(records.map((r) => r.kind)).toEqual([
      "request",
      "policy_decision",
      "submitted",
      "final_status",
      "result_fetched",
    ]);
    expect(records[0]).toMatchObject({
      tool: "run_live_response",
      who: { client_name: "tools-test-client", client_version: "0.0.0" },
      why: "policy test",
      machines: [{ id: DEVICES.finance, name: null }],
      commands: [{ type: "RunScript", script_name: SCRIPT }],
    });
    expect(records[1]).toMatchObject({ outcome: "allow", rule: "policy" });
    expect(records[2]).toMatchObject({
      action_id: entry?.action_id,
      machine_id: DEVICES.finance,
      correlation_tag: `[mcp:${entry?.request_id}]`,
    });
    expect(records[3]).toMatchObject({ action_id: entry?.action_id, status: "Succeeded" });
    expect(records[4]).toMatchObject({ action_id: entry?.action_id, command_index: 0 });
  });

  it("denies a script outside the allowlist, naming the rule, with no API call", async () => {
    await setPolicy(h, policyFile, `scripts:\n  - name: ${OTHER_SCRIPT}\n`);
    let result: CallToolResult | undefined;
    expect(
      await callsDuring(async () => {
        result = await run([DEVICES.finance], [{ type: "RunScript", script_name: SCRIPT }]);
      }),
    ).toEqual({});
    await expectDenied(result!, "scripts");
    expect(textOf(result!)).toContain(`Use one of ${OTHER_SCRIPT}`);
  });

  it("checks a script's arguments against its pattern, as a whole", async () => {
    await setPolicy(
      h,
      policyFile,
      'scripts:\n  - name: Get-RecentFiles.ps1\n    args_pattern: "-Days [0-9]{1,2}"\n',
    );
    const runWith = (args: string) =>
      run([DEVICES.finance], [{ type: "RunScript", script_name: "Get-RecentFiles.ps1", args }]);
    let denied: CallToolResult | undefined;
    expect(await callsDuring(async () => (denied = await runWith("-Days 3 -Path C:\\")))).toEqual({});
    await expectDenied(denied!, "scripts[0].args_pattern");
    const allowed = await runWith("-Days 3");
    expect(structured<Actions>(allowed).actions[0]?.status).toBe("Succeeded");
  });

  it("refuses a pinned script whose library content differs, reading only the library", async () => {
    const actual = await librarySha256(h.fx.t, SCRIPT);
    await setPolicy(h, policyFile, `scripts:\n  - name: ${SCRIPT}\n    sha256: "${"0".repeat(64)}"\n`);
    let denied: CallToolResult | undefined;
    expect(
      await callsDuring(async () => {
        denied = await run([DEVICES.finance], [{ type: "RunScript", script_name: SCRIPT }]);
      }),
    ).toEqual({ listLibraryFiles: 1 });
    await expectDenied(denied!, "scripts[0].sha256");
    expect(textOf(denied!)).toContain(`the library's copy has sha256 ${actual}`);

    // Pinned to what the library holds, it runs.
    await setPolicy(h, policyFile, `scripts:\n  - name: ${SCRIPT}\n    sha256: "${actual.toUpperCase()}"\n`);
    const allowed = await run([DEVICES.finance], [{ type: "RunScript", script_name: SCRIPT }]);
    expect(structured<Actions>(allowed).actions[0]?.status).toBe("Succeeded");
  });

  it("lets PutFile copy only the library files the policy lists", async () => {
    await setPolicy(h, policyFile, "put_file:\n  - name: procdump64.exe\n");
    let denied: CallToolResult | undefined;
    expect(
      await callsDuring(async () => {
        denied = await run([DEVICES.finance], [{ type: "PutFile", file_name: "nc.exe" }]);
      }),
    ).toEqual({});
    await expectDenied(denied!, "put_file");
  });

  it("refuses every path trick outright and judges GetFile paths by the allow and deny patterns", async () => {
    await setPolicy(
      h,
      policyFile,
      "get_file:\n  allow:\n    - 'C:\\Windows\\Temp\\**'\n  deny:\n    - '**\\*.kdbx'\n",
    );
    const cases: Array<[string, string]> = [
      ["\\\\fileserver\\share\\payroll.xlsx", "path_safety"],
      ["\\\\.\\PhysicalDrive0", "path_safety"],
      ["\\\\?\\C:\\Windows\\Temp\\x.log", "path_safety"],
      ["C:\\Windows\\Temp\\x.log::$DATA", "path_safety"],
      ["C:\\Windows\\Temp\\..\\System32\\config\\SAM", "path_safety"],
      ["C:/Windows/Temp/../System32/config/SAM", "path_safety"],
      ["C:\\Windows\\Temp\\PROGRA~1\\x.log", "path_safety"],
      ["Windows\\Temp\\x.log", "path_safety"],
      ["c:/WINDOWS/temp/vault.KDBX", "get_file.deny[0]"],
      ["C:\\Users\\jdoe\\secrets.txt", "get_file.allow"],
    ];
    for (const [path, rule] of cases) {
      let denied: CallToolResult | undefined;
      expect(
        await callsDuring(async () => {
          denied = await run([DEVICES.finance], [{ type: "GetFile", path }]);
        }),
        path,
      ).toEqual({});
      await expectDenied(denied!, rule);
    }
    // Windows paths match the patterns ignoring case.
    let allowed: CallToolResult | undefined;
    const calls = await callsDuring(async () => {
      allowed = await run([DEVICES.finance], [{ type: "GetFile", path: INVOICE.toLowerCase() }]);
    });
    expect(calls.runliveresponse).toBe(1);
    expect(structured<Actions>(allowed!).actions[0]?.action_id).not.toBeNull();
  });

  it("keeps to the device scope: ids decide with no API call, names, tags and groups read the devices", async () => {
    await setPolicy(h, policyFile, `devices:\n  ids: [${DEVICES.finance.toUpperCase()}]\n`);
    let denied: CallToolResult | undefined;
    const script = [{ type: "RunScript", script_name: SCRIPT }];
    expect(await callsDuring(async () => (denied = await run([DEVICES.hr], script)))).toEqual({});
    await expectDenied(denied!, "devices");
    expect(textOf(denied!)).toContain(DEVICES.hr);

    for (const scope of [
      'name_patterns: ["FIN-WS-*"]',
      "tags: [VIP]",
      'groups: ["Finance Workstations"]',
      "groups: [101]",
    ]) {
      await setPolicy(h, policyFile, `devices:\n  ${scope}\n`);
      expect(await callsDuring(async () => (denied = await run([DEVICES.hr], script))), scope).toEqual({
        listMachines: 1,
      });
      await expectDenied(denied!, "devices");
      expect(textOf(denied!)).toContain('"hr-ws-0087.contoso.com"');
      const allowed = await run([DEVICES.finance], script);
      expect(structured<Actions>(allowed).actions[0]?.status, scope).toBe("Succeeded");
    }
  });

  it("refuses a batch larger than max_devices_per_call with no API call", async () => {
    await setPolicy(h, policyFile, "devices:\n  max_devices_per_call: 1\n");
    let denied: CallToolResult | undefined;
    expect(
      await callsDuring(async () => {
        denied = await run([DEVICES.finance, DEVICES.hr], [{ type: "RunScript", script_name: SCRIPT }]);
      }),
    ).toEqual({});
    await expectDenied(denied!, "devices.max_devices_per_call");
  });

  it("read_only hides the tools that act, announces the change, and refuses calls to them", async () => {
    const names = async () => (await h.mcp.listTools()).tools.map((t) => t.name).sort();
    await setPolicy(h, policyFile, "read_only: true\n");
    await until(() => listChanged >= 2);
    expect(await names()).toEqual([...READ_TOOLS].sort());
    let refused: CallToolResult | undefined;
    expect(
      await callsDuring(async () => {
        refused = await run([DEVICES.finance], [{ type: "RunScript", script_name: SCRIPT }]);
      }),
    ).toEqual({});
    expect(refused?.isError).toBe(true);
    expect(textOf(refused!)).toContain("run_live_response disabled");
    const cancel = await h.call("cancel_action", { action_id: "00000000-0000-0000-0000-000000000000" });
    expect(cancel.isError).toBe(true);
    expect(textOf(cancel)).toContain("cancel_action disabled");
    // The read tools still work.
    const found = await h.call("find_machines", { machine_id: DEVICES.finance });
    expect(found.isError).toBeFalsy();

    listChanged = 0;
    await setPolicy(h, policyFile, "read_only: false\n");
    await until(() => listChanged >= 2);
    expect(await names()).toHaveLength(5);
  });

  it("no argument stands in for approval: confirm is an unknown key, refused before anything runs", async () => {
    await setPolicy(h, policyFile, "approval: all\n");
    const before = (await auditEntries(auditLog)).length;
    let result: CallToolResult | undefined;
    expect(
      await callsDuring(async () => {
        result = await run([DEVICES.finance], [{ type: "RunScript", script_name: SCRIPT }], {
          confirm: true,
        });
      }),
    ).toEqual({});
    expect(result?.isError).toBe(true);
    expect(textOf(result!)).toContain('Unrecognized key(s) "confirm"');
    expect(await auditEntries(auditLog)).toHaveLength(before);
    expect(h.serverRequests.filter((r) => r.method === "elicitation/create")).toEqual([]);
  });

  it("leaves a chain that audit verify accepts", async () => {
    const verdict = await verifyAuditLog(auditLog);
    expect(verdict).toEqual({ ok: true, records: (await auditEntries(auditLog)).length });
  });
});

describe("a call racing a reload to read-only", () => {
  it("is refused by the tool itself, and the refusal names the rule", async () => {
    let policy: Policy = DEFAULT_POLICY;
    const server = new McpServer({ name: "race", version: "0" });
    registerTools(server, {
      liveResponse: undefined as never,
      client: undefined as never,
      limits: DEFAULT_TOOL_LIMITS,
      logger: quietLogger,
      // A reload whose notification has not reached the tools yet: current() already says read-only.
      policy: { current: () => policy, sha256: undefined, onChange: () => () => {} },
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const mcp = new Client({ name: "race", version: "0" });
    await Promise.all([server.connect(serverSide), mcp.connect(clientSide)]);
    policy = PolicySchema.parse({ read_only: true });
    const result = (await mcp.callTool({
      name: "cancel_action",
      arguments: { action_id: "00000000-0000-0000-0000-000000000000" },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Error POLICY_DENIED: the policy denied this request \(rule read_only\)/);
    await mcp.close();
    await server.close();
  });
});
