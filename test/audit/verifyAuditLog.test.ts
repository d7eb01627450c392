import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryHash } from "../../src/audit/auditChain.js";
import { AuditLog } from "../../src/audit/auditLog.js";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import { RECORDS, steppingClock } from "./auditFixture.js";

let dir: string;
let pristine: string;
let lines: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-verify-"));
  const file = join(dir, "pristine.jsonl");
  const log = new AuditLog({ path: file, now: steppingClock() });
  for (const record of RECORDS) await log.append(record);
  await log.close();
  pristine = await readFile(file, "utf8");
  lines = pristine.split("\n").slice(0, -1);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function verifyText(text: string) {
  const file = join(dir, `tampered-${(n += 1)}.jsonl`);
  await writeFile(file, text);
  return verifyAuditLog(file);
}
const joined = (ls: string[]) => `${ls.join("\n")}\n`;
const edit = (i: number, change: (record: Record<string, unknown>) => void): string[] =>
  lines.map((line, j) => {
    if (j !== i) return line;
    const record = JSON.parse(line) as Record<string, unknown>;
    change(record);
    return JSON.stringify(record);
  });

describe("verifyAuditLog", () => {
  it("accepts the chain as written, and an empty log", async () => {
    expect(await verifyText(pristine)).toEqual({ ok: true, records: RECORDS.length });
    expect(await verifyText("")).toEqual({ ok: true, records: 0 });
  });

  it.each([
    ["a field's value", (r: Record<string, unknown>) => (r.status = "Failed")],
    ["the time", (r: Record<string, unknown>) => (r.time = "2026-01-14T09:29:00.000Z")],
    ["an added field", (r: Record<string, unknown>) => (r.errors = ["none"])],
  ])("finds an edit of %s at the edited record", async (_what, change) => {
    expect(await verifyText(joined(edit(5, change)))).toEqual({
      ok: false,
      records: 5,
      firstBad: { line: 6, seq: 6, reason: "its hash does not match its content (the record was changed)" },
    });
  });

  it("finds an edit whose hash was recomputed, at the record after it", async () => {
    // Whoever edits a record and fixes its own hash still breaks the next record's prev.
    const forged = edit(2, (r) => {
      r.payload_sha256 = "00".repeat(32);
      const { hash: _old, ...rest } = r;
      r.hash = entryHash(rest as Parameters<typeof entryHash>[0]);
    });
    expect(await verifyText(joined(forged))).toEqual({
      ok: false,
      records: 3,
      firstBad: { line: 4, seq: 4, reason: "its prev does not match the hash of the record before it" },
    });
  });

  it("finds a deleted line at the line that follows it", async () => {
    const deleted = lines.filter((_, i) => i !== 3);
    expect(await verifyText(joined(deleted))).toEqual({
      ok: false,
      records: 3,
      firstBad: {
        line: 4,
        seq: 5,
        reason: "seq 5 where 4 was expected (a record was removed, added or moved)",
      },
    });
  });

  it("finds reordered lines at the first one out of place", async () => {
    const swapped = [...lines];
    [swapped[6], swapped[7]] = [swapped[7] as string, swapped[6] as string];
    expect(await verifyText(joined(swapped))).toMatchObject({
      ok: false,
      records: 6,
      firstBad: { line: 7, seq: 8 },
    });
  });

  it("finds a duplicated (replayed) line", async () => {
    const replayed = [...lines.slice(0, 5), lines[4] as string, ...lines.slice(5)];
    expect(await verifyText(joined(replayed))).toMatchObject({
      ok: false,
      records: 5,
      firstBad: { line: 6, seq: 5 },
    });
  });

  it("finds a log truncated in the middle of a line", async () => {
    const cut = pristine.slice(0, pristine.length - 40);
    expect(await verifyText(cut)).toEqual({
      ok: false,
      records: RECORDS.length - 1,
      firstBad: {
        line: RECORDS.length,
        reason: "the file ends in the middle of a record (no final newline)",
      },
    });
    // Only the final newline gone: the record is whole, but the next append would run into it.
    expect(await verifyText(pristine.slice(0, -1))).toMatchObject({
      ok: false,
      firstBad: { line: RECORDS.length },
    });
  });

  it.each([
    ["an empty line", "", "empty line"],
    ["a line that is not JSON", "{not json", "not valid JSON"],
    ["a JSON array", "[1,2]", "not a JSON object"],
  ])("names %s as the first bad record", async (_what, first, reason) => {
    expect(await verifyText(joined([first, ...lines.slice(1)]))).toEqual({
      ok: false,
      records: 0,
      firstBad: { line: 1, reason },
    });
  });

  it("names a record of an unknown kind or without its chain fields", async () => {
    const unknownKind = edit(0, (r) => (r.kind = "note"));
    expect(await verifyText(joined(unknownKind))).toMatchObject({
      ok: false,
      firstBad: { line: 1, seq: 1, reason: expect.stringContaining("not a valid audit record") },
    });
    const noPrev = edit(1, (r) => delete r.prev);
    expect(await verifyText(joined(noPrev))).toMatchObject({
      ok: false,
      records: 1,
      firstBad: {
        line: 2,
        seq: 2,
        reason: "its chain fields (seq, time, prev, hash) are missing or malformed",
      },
    });
  });

  it("rejects with a typed error when the file cannot be read", async () => {
    await expect(verifyAuditLog(join(dir, "absent.jsonl"))).rejects.toMatchObject({
      code: "AUDIT_UNREADABLE",
    });
  });
});
