import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PendingApprovals } from "../../src/review/pendingApprovals.js";
import { decideReview } from "../../src/review/reviewDecision.js";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { auditEntries } from "../safety/safetyFixture.js";
import { startToolHarness, structured, type ToolHarness } from "../tools/toolHarness.js";

const CLIENT = { name: "headless-agent", version: "1.0.0" };
const POLICY =
  "approval:\n  command_types: [RunScript, GetFile, PutFile]\n  mode: console\n  two_person: true\n";
const RUN = {
  machine_ids: [DEVICES.finance],
  commands: [{ type: "RunScript", script_name: SCRIPT }],
  comment: "IR-7 triage",
};

let dir: string;
let h: ToolHarness;
let review: PendingApprovals;
let auditLog: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "console-approval-"));
  const policyFile = join(dir, "policy.yaml");
  auditLog = join(dir, "audit.jsonl");
  await writeFile(policyFile, POLICY);
  review = await PendingApprovals.open({ file: join(dir, "review.json") });
  h = await startToolHarness({ policyFile, auditLog, review, clientInfo: CLIENT });
});
afterAll(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

const decide = (id: string, approve: boolean, reviewer: string, reason: string) =>
  review.get(id).then((a) =>
    decideReview({ review, audit: h.audit, policy: h.policy }, id, {
      approve,
      reviewer,
      reason,
      payloadSha256: a?.payload_sha256 ?? "",
    }),
  );

async function awaiting(): Promise<ActionEntry> {
  const result = await h.call("run_live_response", { ...RUN, wait_seconds: 0 });
  const [entry] = structured<{ actions: ActionEntry[] }>(result).actions;
  if (!entry) throw new Error("no entry");
  return entry;
}

describe("approval mode console", () => {
  it("returns AwaitingApproval, sends nothing, and get_action runs the request once a reviewer approves", async () => {
    const before = h.calls().runliveresponse ?? 0;
    const entry = await awaiting();
    expect(entry).toMatchObject({ status: "AwaitingApproval", action_id: null, machine_id: DEVICES.finance });
    expect(entry.request_id).toMatch(/^req_review_/);
    expect(h.calls().runliveresponse ?? 0).toBe(before);
    const id = entry.request_id ?? "";
    // Two-person rule: the requester (the MCP client's name over a transport without principals) cannot approve.
    await expect(decide(id, true, CLIENT.name, "mine")).rejects.toMatchObject({ code: "SAME_PERSON" });
    await decide(id, true, "alice", "expected triage");
    const followed = structured<{ action: ActionEntry }>(
      await h.call("get_action", { request_id: id, wait_seconds: 30 }),
    ).action;
    expect(followed.action_id).not.toBeNull();
    expect(followed.status).toBe("Succeeded");
    expect(h.calls().runliveresponse ?? 0).toBe(before + 1);
    const given = (await auditEntries(auditLog)).find((r) => r.kind === "approval_given");
    expect(given).toMatchObject({ reviewer: "alice", reason: "expected triage" });
    // Followed again, it is the submitted action, not a second submit.
    const again = structured<{ action: ActionEntry }>(
      await h.call("get_action", { request_id: id, wait_seconds: 0 }),
    ).action;
    expect(again.action_id).toBe(followed.action_id);
    expect(h.calls().runliveresponse ?? 0).toBe(before + 1);
  });

  it("lets the waiting call proceed when the approval comes within its wait", async () => {
    const off = review.onChange((a) => {
      if (a.status === "pending") void decide(a.id, true, "alice", "go");
    });
    try {
      const result = await h.call("run_live_response", { ...RUN, wait_seconds: 30 });
      const [entry] = structured<{ actions: ActionEntry[] }>(result).actions;
      expect(entry?.action_id).not.toBeNull();
    } finally {
      off();
    }
  });

  it("refuses a denied request with the reviewer's reason, and sends nothing", async () => {
    const before = h.calls().runliveresponse ?? 0;
    const id = (await awaiting()).request_id ?? "";
    await decide(id, false, "bob", "wrong device");
    const result = await h.call("get_action", { request_id: id, wait_seconds: 5 });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toContain("APPROVAL_DECLINED");
    expect(JSON.stringify(result.content)).toContain("wrong device");
    expect(h.calls().runliveresponse ?? 0).toBe(before);
  });

  it("withdraws an awaiting request with cancel_action", async () => {
    const id = (await awaiting()).request_id ?? "";
    const cancelled = structured<{ action: ActionEntry }>(
      await h.call("cancel_action", { request_id: id }),
    ).action;
    expect(cancelled.status).toBe("Cancelled");
    expect((await review.get(id))?.status).toBe("withdrawn");
    await expect(decide(id, true, "alice", "late")).rejects.toMatchObject({ code: "NOT_PENDING" });
  });
});
