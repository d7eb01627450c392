import { open, mkdir, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { AuditLogError } from "./auditError.js";
import { checkLine, entryHash, GENESIS_HASH, type LineCheck } from "./auditChain.js";
import { AuditRecordSchema, type AuditEntry, type AuditRecord } from "./auditRecord.js";
import { findSecret } from "./secretGuard.js";

export interface AuditLogOptions {
  /** The log file (MDE_AUDIT_LOG); created with its folder when missing, continued when it exists. */
  path: string;
  /** The clock of `time`; tests pass a fixed one. */
  now?: () => Date;
  /** Configured secrets (client secret, key passphrase): a record containing one is refused. */
  secrets?: readonly string[];
}

interface ChainHead {
  handle: FileHandle;
  seq: number;
  hash: string;
}

/** Reading the last line backwards in blocks of this size keeps opening a long log cheap. */
const TAIL_BLOCK = 64 * 1024;

/**
 * The append-only audit log: JSON lines, each record chained to the one before by its hash. An
 * append resolves only once its line is on disk (fsync), so a tool answers only after its record is
 * durable. Appends run one at a time. One process writes a log: two servers on one file would
 * interleave their chains.
 *
 * The file is opened at the first append, and again after a failed write: the chain always continues
 * from what is really in the file, and a log that cannot be written rejects every append until it can.
 */
export class AuditLog {
  private readonly path: string;
  private readonly now: () => Date;
  private readonly secrets: readonly string[];
  private head: ChainHead | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: AuditLogOptions) {
    this.path = options.path;
    this.now = options.now ?? (() => new Date());
    this.secrets = options.secrets ?? [];
  }

  /** Writes one record; rejects with AuditLogError (invalid, secret-bearing, or not written). */
  append(record: AuditRecord): Promise<AuditEntry> {
    const next = this.queue.then(() => this.write(record));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Waits for the appends already asked for, then closes the file. */
  async close(): Promise<void> {
    await this.queue;
    await this.head?.handle.close();
    this.head = undefined;
  }

  private async write(input: AuditRecord): Promise<AuditEntry> {
    const parsed = AuditRecordSchema.safeParse(input);
    if (!parsed.success) {
      const where = parsed.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`);
      throw new AuditLogError("AUDIT_INVALID_RECORD", `audit record refused: ${where.join("; ")}`);
    }
    const secret = findSecret(parsed.data, this.secrets);
    if (secret !== undefined) {
      throw new AuditLogError("AUDIT_SECRET_REFUSED", `audit record refused: ${secret} must never be logged`);
    }
    const head = this.head ?? (await this.openHead());
    const unhashed = { seq: head.seq + 1, time: this.now().toISOString(), prev: head.hash, ...parsed.data };
    const hash = entryHash(unhashed);
    const { seq, time, prev, ...record } = unhashed;
    const entry = { seq, time, prev, hash, ...record } as AuditEntry;
    try {
      await head.handle.appendFile(`${JSON.stringify(entry)}\n`, "utf8");
      await head.handle.sync();
    } catch (err) {
      // What reached the file is unknown now: the next append reopens and continues from the file.
      this.head = undefined;
      await head.handle.close().catch(() => undefined);
      throw unwritable(this.path, err);
    }
    head.seq = seq;
    head.hash = hash;
    return entry;
  }

  private async openHead(): Promise<ChainHead> {
    let handle: FileHandle;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      handle = await open(this.path, "a+");
    } catch (err) {
      throw unwritable(this.path, err);
    }
    try {
      const last = await readLastLine(handle);
      if (last === undefined) {
        await syncFolder(this.path);
        this.head = { handle, seq: 0, hash: GENESIS_HASH };
        return this.head;
      }
      const checked: LineCheck = last.complete
        ? checkLine(last.text)
        : { ok: false, reason: "the file ends in the middle of a line" };
      if (!checked.ok) {
        throw new AuditLogError(
          "AUDIT_CORRUPT",
          `audit log ${this.path}: its last record is damaged (${checked.reason}), so the chain cannot continue; check it with "mde-live-response-mcp audit verify" and move it aside`,
        );
      }
      this.head = { handle, seq: checked.entry.seq, hash: checked.entry.hash };
      return this.head;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err instanceof AuditLogError ? err : unwritable(this.path, err);
    }
  }
}

/**
 * A new log's folder entry is flushed too: otherwise a crash could keep the records' bytes but lose
 * the file that names them. Windows cannot open a folder for this, and flushes entries itself.
 */
async function syncFolder(path: string): Promise<void> {
  if (process.platform === "win32") return;
  const folder = await open(dirname(path), "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

function unwritable(path: string, err: unknown): AuditLogError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "unknown error";
  return new AuditLogError("AUDIT_UNWRITABLE", `audit log ${path} cannot be written (${code})`);
}

/**
 * The file's last line, without its newline, and whether that newline is there (a file that does
 * not end in one ends mid-record); undefined for an empty file.
 */
async function readLastLine(handle: FileHandle): Promise<{ text: string; complete: boolean } | undefined> {
  const { size } = await handle.stat();
  if (size === 0) return undefined;
  const chunks: Buffer[] = [];
  let complete = false;
  for (let end = size; end > 0;) {
    const start = Math.max(0, end - TAIL_BLOCK);
    const block = Buffer.alloc(end - start);
    await handle.read(block, 0, block.length, start);
    let searchFrom = block.length - 1;
    if (end === size && block[searchFrom] === 0x0a) {
      complete = true;
      searchFrom -= 1;
    }
    // A negative offset would count from the block's end: nothing is left to search in this block.
    const newline = searchFrom < 0 ? -1 : block.lastIndexOf(0x0a, searchFrom);
    chunks.unshift(block.subarray(newline + 1));
    if (newline >= 0) break;
    end = start;
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return { text: complete ? text.slice(0, -1) : text, complete };
}
