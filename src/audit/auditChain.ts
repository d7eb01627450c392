import { createHash } from "node:crypto";
import { AuditRecordSchema, ChainFieldsSchema, type AuditEntry } from "./auditRecord.js";
import { canonicalJson } from "./canonicalJson.js";

/** The `prev` of the first record: a log starts from a fixed, documented value. */
export const GENESIS_HASH = "0".repeat(64);

/** The hash a record carries: over everything in it but the hash itself, including seq, time and prev. */
export function entryHash(entry: Omit<AuditEntry, "hash">): string {
  return createHash("sha256").update(canonicalJson(entry)).digest("hex");
}

export type LineCheck = { ok: true; entry: AuditEntry } | { ok: false; seq?: number; reason: string };

/** One line judged on its own: a record of a known kind whose hash matches its content. */
export function checkLine(line: string): LineCheck {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not valid JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" };
  }
  const { seq, time, prev, hash, ...rest } = value as Record<string, unknown>;
  const chain = ChainFieldsSchema.safeParse({ seq, time, prev, hash });
  const seqSeen = typeof seq === "number" ? { seq } : {};
  if (!chain.success)
    return {
      ok: false,
      ...seqSeen,
      reason: "its chain fields (seq, time, prev, hash) are missing or malformed",
    };
  const record = AuditRecordSchema.safeParse(rest);
  if (!record.success) {
    const [issue] = record.error.issues;
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    return {
      ok: false,
      ...seqSeen,
      reason: `not a valid audit record (${where}${issue?.message ?? "invalid"})`,
    };
  }
  const entry = { ...chain.data, ...record.data } as AuditEntry;
  const { hash: _stored, ...unhashed } = entry;
  if (entryHash(unhashed) !== chain.data.hash) {
    return {
      ok: false,
      seq: chain.data.seq,
      reason: "its hash does not match its content (the record was changed)",
    };
  }
  return { ok: true, entry };
}
