import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { basename, join } from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { crc32, createGunzip, createInflateRaw } from "node:zlib";
import { ArchiveError } from "./archiveError.js";
import { cleanText } from "./cleanText.js";
import { createUniqueDir, createUniqueFile, deviceBaseName, safeFileName } from "./fileNames.js";
import { readZipDirectory, type ZipEntry } from "./zipDirectory.js";

/**
 * Unpacking what GetFile delivered (reference §9.17: a ZIP in practice, gzip from some sources, or
 * the raw file), safely: nothing is written outside the destination folder, nothing is inflated
 * past the size cap, and entries that are links, special files or share their data are refused.
 *
 * ZIP entries are read from the central directory and inflated with Node's streaming zlib rather
 * than fflate: fflate's unzip wants the whole archive in memory, which a 3 GB collection cannot
 * have. Declared sizes are checked before anything is inflated, and enforced while inflating,
 * since a crafted archive can declare less than it holds.
 */

export type DeliveredFormat = "zip" | "gzip" | "raw";

export function detectFormat(head: Uint8Array): DeliveredFormat {
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return "zip";
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  return "raw";
}

export async function readHead(path: string): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export interface Extracted {
  /** The file, or the folder when the archive held several files. */
  savedPath: string;
  bytes: number;
  /** Of the file; for a folder, of its SHA256SUMS-style manifest (written beside it). */
  sha256: string;
}

export interface ZipExtractOptions {
  /** Total bytes the extracted files may reach. */
  maxBytes: number;
  /** The single file's name when its entry has none usable. */
  fallbackName: string;
  /** The folder's name when the archive holds several files. */
  folderName: string;
}

/** Entries above this size must compress less than MAX_RATIO:1; deflate's own limit is about 1032:1. */
const RATIO_CHECK_FROM_BYTES = 1024 * 1024;
const MAX_RATIO = 1000;
const MAX_NAME_IN_MESSAGE = 80;

/** An entry name as it may appear in a message: it comes from the device. */
function quoteName(name: string): string {
  const clean = cleanText(name).replace(/\n/g, " ");
  return JSON.stringify(
    clean.length > MAX_NAME_IN_MESSAGE ? `${clean.slice(0, MAX_NAME_IN_MESSAGE)}…` : clean,
  );
}

function unsafeNameReason(name: string): string | undefined {
  if (name.includes("\0")) return "contains a NUL character";
  if (/^[\\/]/.test(name)) return "is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "names a drive";
  if (name.split(/[\\/]/).includes("..")) return "climbs out of its folder with ..";
  return undefined;
}

/** Every entry is checked before anything is written; the regular files are returned. */
function checkZipEntries(entries: readonly ZipEntry[], maxBytes: number): ZipEntry[] {
  const files: ZipEntry[] = [];
  let declared = 0;
  for (const entry of entries) {
    const name = quoteName(entry.name);
    const nameProblem = unsafeNameReason(entry.name);
    if (nameProblem) throw new ArchiveError("UNSAFE_ARCHIVE", `entry ${name} ${nameProblem}`);
    if (entry.kind === "symlink")
      throw new ArchiveError("UNSAFE_ARCHIVE", `entry ${name} is a symbolic link`);
    if (entry.kind === "other") throw new ArchiveError("UNSAFE_ARCHIVE", `entry ${name} is a special file`);
    if (entry.kind === "directory") continue;
    if (entry.encrypted) {
      throw new ArchiveError("UNSUPPORTED_ARCHIVE", `entry ${name} is password-protected`);
    }
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ArchiveError(
        "UNSUPPORTED_ARCHIVE",
        `entry ${name} uses compression method ${entry.method}; only stored and deflate are extracted`,
      );
    }
    if (entry.method === 0 && entry.compressedSize !== entry.uncompressedSize) {
      throw new ArchiveError("CORRUPT_ARCHIVE", `stored entry ${name} declares two different sizes`);
    }
    if (
      entry.uncompressedSize > RATIO_CHECK_FROM_BYTES &&
      entry.uncompressedSize > MAX_RATIO * Math.max(entry.compressedSize, 1)
    ) {
      throw new ArchiveError(
        "ARCHIVE_TOO_LARGE",
        `entry ${name} would expand ${Math.round(entry.uncompressedSize / Math.max(entry.compressedSize, 1))} times, beyond the ${MAX_RATIO}:1 this server inflates (a zip bomb?)`,
      );
    }
    declared += entry.uncompressedSize;
    if (declared > maxBytes) {
      throw new ArchiveError(
        "ARCHIVE_TOO_LARGE",
        `the archive declares more than the ${maxBytes}-byte limit for a collected file`,
      );
    }
    files.push(entry);
  }
  if (files.length === 0) throw new ArchiveError("CORRUPT_ARCHIVE", "the ZIP archive holds no file");
  const byData = files.filter((f) => f.dataEnd > f.dataStart).sort((a, b) => a.dataStart - b.dataStart);
  for (let i = 1; i < byData.length; i++) {
    if (byData[i - 1]!.dataEnd > byData[i]!.dataStart) {
      throw new ArchiveError("UNSAFE_ARCHIVE", "entries share their data (an overlapping-entry zip bomb?)");
    }
  }
  return files;
}

/** Counts, hashes and caps what passes through. */
class Meter extends Transform {
  bytes = 0;
  crc32 = 0;
  private readonly hash = createHash("sha256");

  constructor(
    private readonly limit: number,
    private readonly overLimit: () => ArchiveError,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(this.overLimit());
      return;
    }
    this.hash.update(chunk);
    this.crc32 = crc32(chunk, this.crc32);
    done(null, chunk);
  }

  sha256(): string {
    return this.hash.digest("hex");
  }
}

/** zlib reports damaged data with Z_* codes; everything else (disk full, …) is not the archive's fault. */
function damaged(error: unknown, what: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("Z_")
    ? new ArchiveError("CORRUPT_ARCHIVE", `${what} is damaged (${code})`)
    : error;
}

async function writeThrough(
  stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream>,
  meter: Meter,
  handle: FileHandle,
  what: string,
): Promise<void> {
  try {
    await pipeline([...stages, meter, handle.createWriteStream()]);
  } catch (error) {
    throw damaged(error, what);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function extractEntry(
  archivePath: string,
  entry: ZipEntry,
  handle: FileHandle,
): Promise<{ bytes: number; sha256: string }> {
  const name = quoteName(entry.name);
  const meter = new Meter(
    entry.uncompressedSize,
    () =>
      new ArchiveError(
        "ARCHIVE_TOO_LARGE",
        `entry ${name} inflates past its declared ${entry.uncompressedSize} bytes (a zip bomb?); extraction stopped`,
      ),
  );
  const source =
    entry.dataEnd > entry.dataStart
      ? createReadStream(archivePath, { start: entry.dataStart, end: entry.dataEnd - 1 })
      : Readable.from([]);
  const stages = entry.method === 8 ? [source, createInflateRaw()] : [source];
  await writeThrough(stages, meter, handle, `entry ${name}`);
  if (meter.bytes !== entry.uncompressedSize || meter.crc32 !== entry.crc32) {
    throw new ArchiveError("CORRUPT_ARCHIVE", `entry ${name} does not match its declared size and checksum`);
  }
  return { bytes: meter.bytes, sha256: meter.sha256() };
}

/** The entry's path below the folder, one safe segment at a time. */
function safeSegments(name: string): string[] {
  return name
    .split(/[\\/]/)
    .filter((s) => s !== "" && s !== ".")
    .map((s) => safeFileName(s, "_"));
}

/**
 * Extracts a ZIP into `destDir`: its single file as a file, or several files into a new folder. On
 * failure nothing extracted is left behind.
 */
export async function extractZip(
  archivePath: string,
  destDir: string,
  options: ZipExtractOptions,
): Promise<Extracted> {
  const archive = await open(archivePath, "r");
  let files: ZipEntry[];
  try {
    files = checkZipEntries(await readZipDirectory(archive, (await archive.stat()).size), options.maxBytes);
  } finally {
    await archive.close();
  }
  const created: string[] = [];
  try {
    if (files.length === 1) {
      const entry = files[0]!;
      const { path, handle } = await createUniqueFile(
        destDir,
        safeFileName(deviceBaseName(entry.name), options.fallbackName),
      );
      created.push(path);
      return { savedPath: path, ...(await extractEntry(archivePath, entry, handle)) };
    }
    const folder = await createUniqueDir(destDir, options.folderName);
    created.push(folder);
    const manifest: string[] = [];
    let bytes = 0;
    for (const entry of files) {
      const segments = safeSegments(entry.name);
      const parent = join(folder, ...segments.slice(0, -1));
      await mkdir(parent, { recursive: true, mode: 0o700 });
      const { path, handle } = await createUniqueFile(parent, segments[segments.length - 1] ?? "_");
      const written = await extractEntry(archivePath, entry, handle);
      bytes += written.bytes;
      manifest.push(
        `${written.sha256}  ${path
          .slice(folder.length + 1)
          .split(/[\\/]/)
          .join("/")}`,
      );
    }
    const text = `${manifest.sort().join("\n")}\n`;
    const sums = await createUniqueFile(destDir, `${basename(folder)}.sha256`);
    created.push(sums.path);
    try {
      await sums.handle.writeFile(text);
    } finally {
      await sums.handle.close();
    }
    return { savedPath: folder, bytes, sha256: createHash("sha256").update(text).digest("hex") };
  } catch (error) {
    await Promise.all(created.map((p) => rm(p, { recursive: true, force: true })));
    throw error;
  }
}

/** Decompresses a gzip download (every member) into a new file named `name` in `destDir`, capped at `maxBytes`. */
export async function gunzipFile(
  archivePath: string,
  destDir: string,
  name: string,
  maxBytes: number,
): Promise<Extracted> {
  const { path, handle } = await createUniqueFile(destDir, name);
  const meter = new Meter(
    maxBytes,
    () =>
      new ArchiveError(
        "ARCHIVE_TOO_LARGE",
        `the gzip data decompresses to more than the ${maxBytes}-byte limit for a collected file; extraction stopped`,
      ),
  );
  try {
    await writeThrough([createReadStream(archivePath), createGunzip()], meter, handle, "the gzip data");
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return { savedPath: path, bytes: meter.bytes, sha256: meter.sha256() };
}
