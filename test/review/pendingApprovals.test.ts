import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PendingApprovals } from "../../src/review/pendingApprovals.js";
import { approvalRequest, describeApprovalStore } from "./approvalStoreSuite.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pending-approvals-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describeApprovalStore("PendingApprovals (in memory)", (clock = {}) =>
  PendingApprovals.open({ file: undefined, ...clock }),
);

describe("PendingApprovals", () => {
  it("keeps pending requests and decisions across a restart", async () => {
    const file = join(dir, "restart.json");
    const first = await PendingApprovals.open({ file });
    const pending = await first.add(approvalRequest("agent-a"), 60);
    const denied = await first.add(approvalRequest("agent-a"), 60);
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
});
