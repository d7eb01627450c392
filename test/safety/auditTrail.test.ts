import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { generatedDeviceId } from "../helpers/simulatorHarness.js";
import { startToolHarness, structured, textOf, type ToolHarness } from "../tools/toolHarness.js";
import { auditEntries, lastCallId, recordsOf, setPolicy, sha256Hex } from "./safetyFixture.js";

type Actions = { actions: ActionEntry[] };
type OneAction = { action: ActionEntry };

const SCRIPT_COMMAND = [{ type: "RunScript", script_name: SCRIPT }];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-trail-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("the audit log, through the tools", () => {
  let h: ToolHarness;
  let auditLog: string;
  let policyFile: string;

  beforeAll(async () => {
    auditLog = join(dir, "audit.jsonl");
    policyFile = join(dir, "policy.yaml");
    await writeFile(policyFile, "{}\n");
    h = await startToolHarness({ auditLog, policyFile, policyStatIntervalMs: 20 });
  });
  afterAll(() => h.close());

  const run = (machineIds: string[], extra: Record<string, unknown> = {}) =>
    h.call("run_live_response", {
      machine_ids: machineIds,
      commands: SCRIPT_COMMAND,
      comment: "audit test",
      ...extra,
    });

  it("records a submit that failed, with its error code and no action", async () => {
    const unknown = generatedDeviceId(7);
    const result = await run([unknown]);
    expect(structured<Actions>(result).actions[0]?.status).toBe("NotSubmitted");
    const entries = await auditEntries(auditLog);
    const records = recordsOf(entries, lastCallId(entries));
    expect(records.map((r) => r.kind)).toEqual(["request", "policy_decision", "final_status"]);
    expect(records[2]).toMatchObject({
      action_id: null,
      machine_id: unknown,
      status: "NotSubmitted",
      errors: ["ResourceNotFound"],
    });
  });

  it("records a queued request's withdrawal and a cancel, each once", async () => {
    // The kiosk is offline: its first action stays Pending and the second request queues behind it.
    const first = structured<Actions>(await run([DEVICES.offlineKiosk], { wait_seconds: 0 })).actions[0]!;
    expect(first.status).toBe("Pending");
    const queued = structured<Actions>(await run([DEVICES.offlineKiosk], { wait_seconds: 0 })).actions[0]!;
    expect(queued.status).toBe("Queued");

    const withdrawn = await h.call("cancel_action", { request_id: queued.request_id, comment: "not needed" });
    expect(structured<OneAction>(withdrawn).action.status).toBe("Cancelled");
    const cancelled = await h.call("cancel_action", { action_id: first.action_id, comment: "stop it" });
    expect(structured<OneAction>(cancelled).action.status).toBe("Cancelled");
    // Asked again about the cancelled action: its final status is already recorded.
    await h.call("get_action", { action_id: first.action_id, wait_seconds: 0 });

    const entries = await auditEntries(auditLog);
    const withdrawals = entries.filter((e) => e.kind === "final_status" && e.status === "Withdrawn");
    expect(withdrawals).toHaveLength(1);
    expect(withdrawals[0]).toMatchObject({ action_id: null, machine_id: DEVICES.offlineKiosk });
    const cancelCall = recordsOf(entries, lastCallId(entries));
    expect(cancelCall.map((r) => r.kind)).toEqual(["request", "policy_decision", "cancel", "final_status"]);
    expect(cancelCall[0]).toMatchObject({ tool: "cancel_action", why: "stop it" });
    expect(cancelCall[1]).toMatchObject({ outcome: "allow", rule: "cancel_action" });
    expect(cancelCall[2]).toMatchObject({ action_id: first.action_id, status: "Cancelled" });
    expect(entries.filter((e) => e.kind === "final_status" && e.action_id === first.action_id)).toHaveLength(
      1,
    );
  });

  it("records each command's result once, by the SHA-256 of what the model was given", async () => {
    const entry = structured<Actions>(
      await run([DEVICES.finance], {
        commands: [...SCRIPT_COMMAND, { type: "GetFile", path: "C:\\Windows\\Temp\\invoice_2291.pdf.exe" }],
      }),
    ).actions[0]!;
    expect(entry.status).toBe("Succeeded");
    // Paging the output again records nothing new.
    await h.call("get_action", { action_id: entry.action_id, command_index: 0, max_output_chars: 10 });
    const entries = await auditEntries(auditLog);
    const results = entries.filter((e) => e.kind === "result_fetched" && e.action_id === entry.action_id);
    expect(results.map((r) => ("command_index" in r ? r.command_index : -1))).toEqual([0, 1]);
    const file = entry.commands[1]?.result as { sha256: string; bytes: number; saved_path: string };
    expect(results[1]).toMatchObject({ artifacts: [{ sha256: file.sha256, bytes: file.bytes }] });
    const output = entry.commands[0]?.result as { output: string; truncated: boolean };
    expect(output.truncated).toBe(false);
    expect(results[0]).toMatchObject({
      artifacts: [{ name: "output", sha256: sha256Hex(output.output) }],
    });
  });

  it("records a denial with the policy file's hash", async () => {
    await setPolicy(h, policyFile, "scripts: []\n");
    const result = await run([DEVICES.finance]);
    expect(textOf(result)).toMatch(/^Error POLICY_DENIED/);
    const entries = await auditEntries(auditLog);
    expect(entries.at(-1)).toMatchObject({
      kind: "policy_decision",
      outcome: "deny",
      rule: "scripts",
      policy_sha256: h.policy.sha256,
    });
    await setPolicy(h, policyFile, "{}\n");
  });

  it("refuses a request it could only record with a credential in it, before anything is sent", async () => {
    const before = h.totalCalls();
    const result = await run([DEVICES.finance], {
      comment: "use Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    });
    expect(textOf(result)).toMatch(
      /^Error AUDIT_UNAVAILABLE: the request holds something that looks like a credential/,
    );
    expect(h.totalCalls()).toBe(before);
  });

  it("holds no secret, and its chain verifies", async () => {
    const text = await readFile(auditLog, "utf8");
    expect(text).not.toContain(h.fx.t.sim.clientSecret);
    expect(text).not.toMatch(/sig=|Bearer |eyJ/);
    expect(await verifyAuditLog(auditLog)).toEqual({ ok: true, records: text.trim().split("\n").length });
  });
});

describe("an audit log that cannot be written", () => {
  let h: ToolHarness;

  beforeAll(async () => {
    // A file where the log's folder should be: no user, root included, can create the log there.
    const blocker = join(dir, "not-a-folder");
    await writeFile(blocker, "");
    h = await startToolHarness({ auditLog: join(blocker, "audit.jsonl") });
  });
  afterAll(() => h.close());

  it("stops run_live_response and cancel_action before anything is sent; reads keep working", async () => {
    const before = h.totalCalls();
    const runResult = await h.call("run_live_response", {
      machine_ids: [DEVICES.finance],
      commands: SCRIPT_COMMAND,
      comment: "must not run",
    });
    expect(runResult.isError).toBe(true);
    expect(textOf(runResult)).toMatch(
      /^Error AUDIT_UNAVAILABLE: .*\nNext step: nothing was sent to Defender/,
    );

    // An action started elsewhere (the portal, another tool) can be read but not cancelled from here.
    const elsewhere = await h.fx.client().runLiveResponse(DEVICES.hr, {
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: "portal",
    });
    const afterSubmit = h.totalCalls();
    const cancel = await h.call("cancel_action", { action_id: elsewhere.id });
    expect(textOf(cancel)).toMatch(/^Error AUDIT_UNAVAILABLE: /);
    expect(h.totalCalls()).toBe(afterSubmit);
    expect(afterSubmit - before).toBe(1);

    const found = await h.call("find_machines", { machine_id: DEVICES.finance });
    expect(found.isError).toBeFalsy();
    const library = await h.call("list_library_files", {});
    expect(library.isError).toBeFalsy();
    const read = await h.call("get_action", { action_id: elsewhere.id, wait_seconds: 5 });
    expect(structured<OneAction>(read).action).toMatchObject({
      action_id: elsewhere.id,
      status: "Succeeded",
    });
  });
});
