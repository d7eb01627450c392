import { describe, expect, it } from "vitest";
import type { PendingApproval } from "../../src/review/pendingApproval.js";
import { lineDiff, mostSimilar, requestLines, similarity } from "../../src/review/console/requestDiff.js";

function approval(
  id: string,
  at: string,
  overrides: { principal?: string; device?: string; script?: string; args?: string; comment?: string },
): PendingApproval {
  const device = overrides.device ?? "dev-1";
  return {
    id: `req_review_${id}`,
    call_id: `call-${id}`,
    status: "denied",
    created_at: at,
    expires_at: at,
    payload: {
      requester: { client_name: "agent", client_version: "1", principal: overrides.principal ?? "agent-1" },
      comment: overrides.comment ?? "IR-1 triage",
      devices: [{ id: device, name: `${device}.contoso.com` }],
      commands: [
        {
          type: "RunScript",
          script_name: overrides.script ?? "Get-ProcessList.ps1",
          args: overrides.args ?? null,
          library_sha256: null,
        },
      ],
    },
    payload_sha256: "0".repeat(64),
    rule: "approval.command_types",
    reason: "RunScript needs approval",
    policy_sha256: null,
    two_person: false,
    devices: [{ id: device, name: `${device}.contoso.com`, os: "Windows11", health: "Active" }],
    run: { machineIds: [device], commands: [], comment: overrides.comment ?? "IR-1 triage" },
  };
}

describe("the diff against the most similar earlier request", () => {
  it("diffs lines: kept, removed, added, in order", () => {
    expect(lineDiff(["a", "b", "c"], ["a", "c", "d"])).toEqual([
      { op: "same", text: "a" },
      { op: "removed", text: "b" },
      { op: "same", text: "c" },
      { op: "added", text: "d" },
    ]);
    expect(similarity(["a", "b"], ["a", "b"])).toBe(1);
    expect(similarity(["a"], ["b"])).toBe(0);
  });

  it("picks the earlier related request sharing the most lines, and ignores later and unrelated ones", () => {
    const target = approval("t", "2026-01-01T10:00:00.000Z", { args: "-Days 3", comment: "IR-2 again" });
    const close = approval("c", "2026-01-01T09:00:00.000Z", { args: "-Days 3" });
    const far = approval("f", "2026-01-01T09:30:00.000Z", { script: "Get-Autoruns.ps1", comment: "other" });
    const later = approval("l", "2026-01-01T11:00:00.000Z", { args: "-Days 3", comment: "IR-2 again" });
    const unrelated = approval("u", "2026-01-01T09:45:00.000Z", {
      principal: "someone",
      device: "dev-9",
      script: "Other.ps1",
      comment: "IR-2 again",
    });
    const found = mostSimilar(target, [target, close, far, later, unrelated]);
    expect(found?.approval.id).toBe(close.id);
    expect(found?.diff).toContainEqual({ op: "removed", text: "comment: IR-1 triage" });
    expect(found?.diff).toContainEqual({ op: "added", text: "comment: IR-2 again" });
    expect(found?.diff).toContainEqual({
      op: "same",
      text: "command 1: RunScript Get-ProcessList.ps1 -Days 3",
    });
    expect(requestLines(target)).toContain("device: dev-1.contoso.com (dev-1)");
    expect(mostSimilar(unrelated, [unrelated, later])).toBeUndefined();
  });
});
