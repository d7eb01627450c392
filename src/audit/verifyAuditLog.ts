import { createReadStream } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { AuditLogError } from "./auditError.js";
import { checkLine, GENESIS_HASH } from "./auditChain.js";

export type AuditVerification =
  | { ok: true; records: number }
  | {
      ok: false;
      /** Records verified before the first bad one. */
      records: number;
      firstBad: { line: number; seq?: number; reason: string };
    };

/**
 * Checks a whole audit log: every line a valid record whose hash matches its content, numbered one
 * after the other from 1, each naming the hash of the one before. An edited field, a removed,
 * inserted or moved line, and a file cut mid-line are each found at the first record they break.
 * Records cut from the end at a line boundary leave a valid shorter chain: compare the last hash with
 * one kept elsewhere to catch that. Streams the file, so a long log costs no memory.
 */
export async function verifyAuditLog(file: string): Promise<AuditVerification> {
  let records = 0;
  let prev = GENESIS_HASH;
  let line = 0;
  let pending = "";
  const decoder = new StringDecoder("utf8");
  const bad = (reason: string, seq?: number): AuditVerification => ({
    ok: false,
    records,
    firstBad: { line, ...(seq === undefined ? {} : { seq }), reason },
  });
  const judge = (text: string): AuditVerification | undefined => {
    line += 1;
    if (text === "") return bad("empty line");
    const checked = checkLine(text);
    if (!checked.ok) return bad(checked.reason, checked.seq);
    const { seq } = checked.entry;
    if (seq !== records + 1) {
      return bad(`seq ${seq} where ${records + 1} was expected (a record was removed, added or moved)`, seq);
    }
    if (checked.entry.prev !== prev)
      return bad("its prev does not match the hash of the record before it", seq);
    prev = checked.entry.hash;
    records += 1;
    return undefined;
  };
  try {
    for await (const chunk of createReadStream(file)) {
      pending += decoder.write(chunk as Buffer);
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const text of lines) {
        const verdict = judge(text);
        if (verdict !== undefined) return verdict;
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "unknown error";
    throw new AuditLogError("AUDIT_UNREADABLE", `audit log ${file} cannot be read (${code})`);
  }
  pending += decoder.end();
  if (pending !== "") {
    line += 1;
    return bad("the file ends in the middle of a record (no final newline)");
  }
  return { ok: true, records };
}
