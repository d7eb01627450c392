import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PendingApprovals, type NewApproval } from "../../src/review/pendingApprovals.js";
import { approvalPayload, payloadSha256 } from "../../src/safety/approvalPayload.js";

const DEVICE = "9d663375e3e46799a6657b0c0c74b873c9fcd069";
const run = {
  machineIds: [DEVICE],
  commands: [{ type: "RunScript" as const, scriptName: "Get-ProcessList.ps1", args: "-Days 3" }],
  comment: "IR-7 triage",
};

function request(principal: string, twoPerson = false): NewApproval {
  const payload = approvalPayload({
    ...run,
    requester: { client_name: "agent", client_version: "1.0", principal },
    machines: [],
    library: [],
  });
  return {
    call_id: "call_1",
    payload,
    payload_sha256: payloadSha256(payload),
    rule: "approval.command_types",
    reason: "RunScript needs approval",
    policy_sha256: null,
    two_person: twoPerson,
    devices: [{ id: DEVICE, name: "fin-ws-0142", os: "Windows11", health: "Active" }],
    run,
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pending-approvals-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("PendingApprovals", () => {
  it("keeps pending requests and decisions across a restart", async () => {
    const file = join(dir, "restart.json");
    const first = await PendingApprovals.open({ file });
    const pending = await first.add(request("agent-a"), 60);
    const denied = await first.add(request("agent-a"), 60);
    await first.decide(
      denied.id,
      {
        approve: false,
        reviewer: "bob",
        reason: "not now",
        payloadSha256: denied.payload_sha256,
      },
      60,
    );
    const second = await PendingApprovals.open({ file });
    expect((await second.get(pending.id))?.status).toBe("pending");
    expect((await second.get(pending.id))?.payload_sha256).toBe(pending.payload_sha256);
    expect((await second.get(denied.id))?.decision).toMatchObject({ reviewer: "bob", reason: "not now" });
  });

  it("binds a decision to the payload hash the reviewer saw", async () => {
    const store = await PendingApprovals.open({ file: undefined });
    const pending = await store.add(request("agent-a"), 60);
    await expect(
      store.decide(
        pending.id,
        { approve: true, reviewer: "bob", reason: "", payloadSha256: "0".repeat(64) },
        60,
      ),
    ).rejects.toMatchObject({ code: "PAYLOAD_MISMATCH" });
    expect((await store.get(pending.id))?.status).toBe("pending");
  });

  it("refuses the requester's own approval under the two-person rule, not another's", async () => {
    const store = await PendingApprovals.open({ file: undefined });
    const pending = await store.add(request("alice", true), 60);
    const decide = { approve: true, reason: "ok", payloadSha256: pending.payload_sha256 };
    await expect(store.decide(pending.id, { ...decide, reviewer: "alice" }, 60)).rejects.toMatchObject({
      code: "SAME_PERSON",
    });
    expect((await store.decide(pending.id, { ...decide, reviewer: "bob" }, 60)).status).toBe("approved");
  });

  it("expires a request left undecided, and an approval left unused, after the configured minutes", async () => {
    let now = Date.parse("2025-01-01T00:00:00Z");
    const store = await PendingApprovals.open({ file: undefined, now: () => now });
    const undecided = await store.add(request("agent-a"), 10);
    const approved = await store.add(request("agent-a"), 10);
    now += 9 * 60_000;
    await store.decide(
      approved.id,
      {
        approve: true,
        reviewer: "bob",
        reason: "",
        payloadSha256: approved.payload_sha256,
      },
      10,
    );
    now += 2 * 60_000;
    expect((await store.get(undecided.id))?.status).toBe("expired");
    expect((await store.get(approved.id))?.status).toBe("approved");
    now += 9 * 60_000;
    expect((await store.get(approved.id))?.status).toBe("expired");
    expect(await store.claim(approved.id)).toBeUndefined();
  });

  it("scales the expiry by the time scale", async () => {
    let now = 0;
    const store = await PendingApprovals.open({ file: undefined, now: () => now, timeScale: 600 });
    const pending = await store.add(request("agent-a"), 60);
    now += 5_999;
    expect((await store.get(pending.id))?.status).toBe("pending");
    now += 2;
    expect((await store.get(pending.id))?.status).toBe("expired");
  });

  it("hands an approval to one caller only", async () => {
    const store = await PendingApprovals.open({ file: undefined });
    const pending = await store.add(request("agent-a"), 60);
    await store.decide(
      pending.id,
      {
        approve: true,
        reviewer: "bob",
        reason: "",
        payloadSha256: pending.payload_sha256,
      },
      60,
    );
    const claims = await Promise.all([store.claim(pending.id), store.claim(pending.id)]);
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
  });
});
