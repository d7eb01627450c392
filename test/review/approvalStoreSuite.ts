import { describe, expect, it } from "vitest";
import type { ApprovalStore, NewApproval } from "../../src/review/approvalStore.js";
import { approvalPayload, payloadSha256 } from "../../src/safety/approvalPayload.js";

const DEVICE = "9d663375e3e46799a6657b0c0c74b873c9fcd069";
const run = {
  machineIds: [DEVICE],
  commands: [{ type: "RunScript" as const, scriptName: "Get-ProcessList.ps1", args: "-Days 3" }],
  comment: "IR-7 triage",
};

/** A request for approval as the tools add it, asked by `principal`. */
export function approvalRequest(principal: string, twoPerson = false): NewApproval {
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

/** Opens a fresh, empty store on this clock (default: the real one, no time scale). */
export type OpenStore = (clock?: { now?: () => number; timeScale?: number }) => Promise<ApprovalStore>;

/** What every ApprovalStore does, wherever it keeps the requests. */
export function describeApprovalStore(name: string, open: OpenStore): void {
  describe(`${name}: the behaviour of every approval store`, () => {
    it("binds a decision to the payload hash the reviewer saw", async () => {
      const store = await open();
      const pending = await store.add(approvalRequest("agent-a"), 60);
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
      const store = await open();
      const pending = await store.add(approvalRequest("alice", true), 60);
      const decide = { approve: true, reason: "ok", payloadSha256: pending.payload_sha256 };
      await expect(store.decide(pending.id, { ...decide, reviewer: "alice" }, 60)).rejects.toMatchObject({
        code: "SAME_PERSON",
      });
      expect((await store.decide(pending.id, { ...decide, reviewer: "bob" }, 60)).status).toBe("approved");
    });

    it("takes one decision only, and nothing when recording it fails", async () => {
      const store = await open();
      const pending = await store.add(approvalRequest("agent-a"), 60);
      const decide = { approve: true, reviewer: "bob", reason: "", payloadSha256: pending.payload_sha256 };
      const failing = async () => {
        throw new Error("the audit log cannot be written");
      };
      await expect(store.decide(pending.id, decide, 60, failing)).rejects.toThrow("audit log");
      expect((await store.get(pending.id))?.status).toBe("pending");
      await store.decide(pending.id, decide, 60);
      await expect(store.decide(pending.id, { ...decide, approve: false }, 60)).rejects.toMatchObject({
        code: "NOT_PENDING",
      });
      await expect(store.decide("req_review_0000000000000000", decide, 60)).rejects.toMatchObject({
        code: "NOT_FOUND",
      });
    });

    it("expires a request left undecided, and an approval left unused, after the configured minutes", async () => {
      let now = Date.parse("2025-01-01T00:00:00Z");
      const store = await open({ now: () => now });
      const undecided = await store.add(approvalRequest("agent-a"), 10);
      const approved = await store.add(approvalRequest("agent-a"), 10);
      now += 9 * 60_000;
      await store.decide(
        approved.id,
        { approve: true, reviewer: "bob", reason: "", payloadSha256: approved.payload_sha256 },
        10,
      );
      now += 2 * 60_000;
      expect((await store.get(undecided.id))?.status).toBe("expired");
      expect((await store.get(approved.id))?.status).toBe("approved");
      await expect(
        store.decide(
          undecided.id,
          { approve: true, reviewer: "bob", reason: "", payloadSha256: undecided.payload_sha256 },
          10,
        ),
      ).rejects.toMatchObject({ code: "EXPIRED" });
      now += 9 * 60_000;
      expect((await store.get(approved.id))?.status).toBe("expired");
      expect(await store.claim(approved.id)).toBeUndefined();
    });

    it("scales the expiry by the time scale", async () => {
      let now = Date.parse("2025-01-01T00:00:00Z");
      const store = await open({ now: () => now, timeScale: 600 });
      const pending = await store.add(approvalRequest("agent-a"), 60);
      now += 5_999;
      expect((await store.get(pending.id))?.status).toBe("pending");
      now += 2;
      expect((await store.get(pending.id))?.status).toBe("expired");
    });

    it("hands an approval to one caller only", async () => {
      const store = await open();
      const pending = await store.add(approvalRequest("agent-a"), 60);
      await store.decide(
        pending.id,
        { approve: true, reviewer: "bob", reason: "", payloadSha256: pending.payload_sha256 },
        60,
      );
      const claims = await Promise.all([store.claim(pending.id), store.claim(pending.id)]);
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
      await store.recordSubmitted(pending.id, [{ machine_id: "m1", request_id: "req_000000000001" }]);
      expect(await store.get(pending.id)).toMatchObject({
        status: "submitted",
        submitted: [{ machine_id: "m1", request_id: "req_000000000001" }],
      });
    });

    it("withdraws a pending request once, lists newest first, and tells listeners of each change", async () => {
      let now = Date.parse("2025-01-01T00:00:00Z");
      const store = await open({ now: () => now });
      const seen: string[] = [];
      const off = store.onChange((a) => seen.push(`${a.id}:${a.status}`));
      const older = await store.add(approvalRequest("agent-a"), 60);
      now += 1_000;
      const newer = await store.add(approvalRequest("agent-a"), 60);
      expect((await store.list()).map((a) => a.id)).toEqual([newer.id, older.id]);
      expect((await store.withdraw(older.id))?.status).toBe("withdrawn");
      expect(await store.withdraw(older.id)).toBeUndefined();
      await expect
        .poll(() => seen)
        .toEqual([`${older.id}:pending`, `${newer.id}:pending`, `${older.id}:withdrawn`]);
      off();
    });

    it("wakes a waiter when the request is decided, and answers at once for one already decided", async () => {
      const store = await open();
      const pending = await store.add(approvalRequest("agent-a"), 60);
      const waiting = store.waitForDecision(pending.id, { waitMs: 60_000 });
      await store.decide(
        pending.id,
        { approve: false, reviewer: "bob", reason: "no", payloadSha256: pending.payload_sha256 },
        60,
      );
      expect(await waiting).toMatchObject({ status: "denied", decision: { reviewer: "bob", reason: "no" } });
      expect((await store.waitForDecision(pending.id, { waitMs: 60_000 }))?.status).toBe("denied");
    });
  });
}
