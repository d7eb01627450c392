import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { entryHash, GENESIS_HASH } from "../../src/audit/auditChain.js";
import { AuditLogError } from "../../src/audit/auditError.js";
import { AuditLog } from "../../src/audit/auditLog.js";
import { auditCommand, type AuditRecord } from "../../src/audit/auditRecord.js";
import { verifyAuditLog } from "../../src/audit/verifyAuditLog.js";
import { RECORDS, steppingClock, WHO } from "./auditFixture.js";

let dir: string;
let file: string;
const logs: AuditLog[] = [];
const openLog = (options: { secrets?: string[] } = {}) => {
  const log = new AuditLog({ path: file, now: steppingClock(), ...options });
  logs.push(log);
  return log;
};
const lines = async () =>
  (await readFile(file, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-log-"));
  file = join(dir, "nested", "audit.jsonl");
});
afterEach(async () => {
  await Promise.all(logs.splice(0).map((l) => l.close().catch(() => undefined)));
  await rm(dir, { recursive: true, force: true });
});

describe("AuditLog", () => {
  it("writes every record kind as one chained JSON line, creating its folder", async () => {
    const log = openLog();
    for (const record of RECORDS) await log.append(record);
    const written = await lines();
    expect(written).toHaveLength(RECORDS.length);
    written.forEach((line, i) => {
      const { seq, time, prev, hash, ...record } = line;
      expect(record).toEqual(RECORDS[i]);
      expect(seq).toBe(i + 1);
      expect(time).toBe(new Date(Date.UTC(2026, 0, 14, 9, 30) + (i + 1) * 1000).toISOString());
      expect(prev).toBe(i === 0 ? GENESIS_HASH : written[i - 1]?.hash);
      expect(hash).toBe(entryHash({ seq, time, prev, ...record } as Parameters<typeof entryHash>[0]));
      // seq, time, prev and hash lead each line, so a person reads the chain first.
      expect(Object.keys(line).slice(0, 4)).toEqual(["seq", "time", "prev", "hash"]);
    });
    expect(await verifyAuditLog(file)).toEqual({ ok: true, records: RECORDS.length });
  });

  it("answers each append with the entry as written", async () => {
    const entry = await openLog().append(RECORDS[0] as AuditRecord);
    expect(entry).toEqual((await lines())[0]);
  });

  it("serializes concurrent appends into one unbroken chain", async () => {
    const log = openLog();
    const entries = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        log.append({ kind: "cancel", request_id: `req-${i}`, action_id: `a-${i}`, status: "Cancelled" }),
      ),
    );
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await verifyAuditLog(file)).toEqual({ ok: true, records: 40 });
  });

  it("continues the chain of an existing log when reopened", async () => {
    const first = openLog();
    await first.append(RECORDS[0] as AuditRecord);
    await first.append(RECORDS[1] as AuditRecord);
    await first.close();
    const second = openLog();
    const entry = await second.append(RECORDS[2] as AuditRecord);
    expect(entry.seq).toBe(3);
    expect(entry.prev).toBe((await lines())[1]?.hash);
    expect(await verifyAuditLog(file)).toEqual({ ok: true, records: 3 });
  });

  it("continues a log whose last record is longer than a read block", async () => {
    const long: AuditRecord = { ...(RECORDS[0] as AuditRecord), why: "x".repeat(200_000) } as AuditRecord;
    const first = openLog();
    await first.append(RECORDS[1] as AuditRecord);
    await first.append(long);
    await first.close();
    expect((await openLog().append(RECORDS[2] as AuditRecord)).seq).toBe(3);
    expect(await verifyAuditLog(file)).toEqual({ ok: true, records: 3 });
  });

  it("refuses to continue a log whose last record is damaged, and writes nothing", async () => {
    const first = openLog();
    await first.append(RECORDS[0] as AuditRecord);
    await first.close();
    await appendFile(file, '{"seq":2,"time":"2026-01-14T09:30:02.000Z"');
    const before = await readFile(file, "utf8");
    const err = await openLog()
      .append(RECORDS[1] as AuditRecord)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditLogError);
    expect(err).toMatchObject({
      code: "AUDIT_CORRUPT",
      message: expect.stringContaining("middle of a line"),
    });
    expect(await readFile(file, "utf8")).toBe(before);
  });

  it("refuses a last line that is complete JSON but whose newline was cut", async () => {
    const first = openLog();
    await first.append(RECORDS[0] as AuditRecord);
    await first.close();
    const { size } = await stat(file);
    await truncate(file, size - 1);
    await expect(openLog().append(RECORDS[1] as AuditRecord)).rejects.toMatchObject({
      code: "AUDIT_CORRUPT",
    });
  });

  it("rejects with a typed error when the log cannot be written, and recovers once it can", async () => {
    // A file where the log's folder should be: no folder can be made there, whoever runs the test.
    const blocker = join(dir, "nested");
    await writeFile(blocker, "not a folder");
    const log = openLog();
    const err = await log.append(RECORDS[0] as AuditRecord).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditLogError);
    expect(err).toMatchObject({ code: "AUDIT_UNWRITABLE" });
    expect((err as Error).message).toMatch(/audit log .* cannot be written \((ENOTDIR|EEXIST)\)/);
    await expect(log.append(RECORDS[1] as AuditRecord)).rejects.toMatchObject({ code: "AUDIT_UNWRITABLE" });

    await rm(blocker);
    expect((await log.append(RECORDS[2] as AuditRecord)).seq).toBe(1);
  });

  it.each([
    ["a bearer token", { why: "retry with Bearer eyJhbGciOiJSUzI1NiJ9abcdefgh" }],
    ["a JWT", { why: "token eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl" }],
    [
      "a SAS signature",
      {
        why: "https://acct.blob.core.windows.net/c/b?sv=2020-08-04&se=2026-01-01&sp=r&sig=AbCdEf0123456789%3D",
      },
    ],
    ["a PEM private key", { why: "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----" }],
    ["a PEM private key", { why: "-----BEGIN RSA PRIVATE KEY-----\nMIIE" }],
  ])("refuses a record holding %s, and never writes it", async (what, field) => {
    const log = openLog();
    await log.append(RECORDS[1] as AuditRecord);
    const record = { ...(RECORDS[0] as AuditRecord), ...field } as AuditRecord;
    const err = await log.append(record).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "AUDIT_SECRET_REFUSED" });
    expect((err as Error).message).toContain(`why: ${what}`);
    expect((err as Error).message).not.toContain(field.why.slice(-12));
    expect(await lines()).toHaveLength(1);
    // The refusal does not break the chain: the next record follows the last one written.
    expect((await log.append(RECORDS[2] as AuditRecord)).seq).toBe(2);
    expect(await verifyAuditLog(file)).toEqual({ ok: true, records: 2 });
  });

  it("refuses a configured secret wherever it hides, even nested in a command", async () => {
    const secret = "Dem8Q~CanaryClientSecret-4242";
    const log = openLog({ secrets: [secret] });
    const record: AuditRecord = {
      kind: "request",
      request_id: "r",
      who: WHO,
      why: "triage",
      tool: "run_live_response",
      machines: [],
      commands: [auditCommand({ type: "RunScript", scriptName: "A.ps1", args: `-Secret ${secret}` })],
    };
    const err = await log.append(record).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "AUDIT_SECRET_REFUSED" });
    expect((err as Error).message).toContain("commands[0].args: a configured secret");
    expect((err as Error).message).not.toContain(secret);
  });

  it("refuses a record of an unknown kind or with extra fields", async () => {
    const log = openLog();
    const unknownKind = { kind: "note", request_id: "r" } as unknown as AuditRecord;
    await expect(log.append(unknownKind)).rejects.toMatchObject({ code: "AUDIT_INVALID_RECORD" });
    const extra = { ...(RECORDS[4] as AuditRecord), access_token: "x" } as unknown as AuditRecord;
    await expect(log.append(extra)).rejects.toMatchObject({ code: "AUDIT_INVALID_RECORD" });
  });

  it("writes commands in the tools' snake_case", () => {
    expect(auditCommand({ type: "PutFile", fileName: "procdump64.exe" })).toEqual({
      type: "PutFile",
      file_name: "procdump64.exe",
    });
    expect(auditCommand({ type: "GetFile", path: "C:\\x" })).toEqual({ type: "GetFile", path: "C:\\x" });
    expect(auditCommand({ type: "RunScript", scriptName: "A.ps1", args: "-x" })).toEqual({
      type: "RunScript",
      script_name: "A.ps1",
      args: "-x",
    });
  });
});
