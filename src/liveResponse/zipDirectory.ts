import type { FileHandle } from "node:fs/promises";
import { ArchiveError } from "./archiveError.js";

/**
 * The central directory of a ZIP file, read from disk without inflating anything: what each entry
 * declares (name, method, sizes, type) and where its data lies. The central directory is the
 * archive's authoritative index; local headers are read only to find where each entry's data starts.
 * ZIP64 sizes and offsets are understood, since a file near the 3 GB GetFile limit may use them.
 */

export type ZipEntryKind = "file" | "directory" | "symlink" | "other";

export interface ZipEntry {
  /** As stored: UTF-8 when the entry says so (flag bit 11), else read byte for byte. */
  name: string;
  kind: ZipEntryKind;
  encrypted: boolean;
  /** 0 stored, 8 deflate; anything else is not supported. */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Where the entry's compressed bytes start and end (exclusive) in the file. */
  dataStart: number;
  dataEnd: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA = 0x0001;
const UNIX_HOST = 3;
/** More entries than a collected file plausibly needs; a limit keeps a crafted directory cheap to read. */
const MAX_ZIP_ENTRIES = 10_000;

const corrupt = (why: string) => new ArchiveError("CORRUPT_ARCHIVE", `the ZIP archive is damaged: ${why}`);

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  if (bytesRead !== length) throw corrupt("it ends early");
  return buffer;
}

function u64(buffer: Buffer, offset: number): number {
  const value = buffer.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt("a size or offset is out of range");
  return Number(value);
}

interface DirectoryLocation {
  entries: number;
  offset: number;
  size: number;
}

async function locateDirectory(handle: FileHandle, fileSize: number): Promise<DirectoryLocation> {
  const tailLength = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(handle, tailStart, tailLength);
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE) {
      at = i;
      break;
    }
  }
  if (at < 0) throw corrupt("no end of central directory record");
  let location: DirectoryLocation = {
    entries: tail.readUInt16LE(at + 10),
    size: tail.readUInt32LE(at + 12),
    offset: tail.readUInt32LE(at + 16),
  };
  const locatorAt = tailStart + at - 20;
  if (locatorAt >= 0) {
    const locator = await readAt(handle, locatorAt, 20);
    if (locator.readUInt32LE(0) === ZIP64_LOCATOR_SIGNATURE) {
      const record = await readAt(handle, u64(locator, 8), 56);
      if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw corrupt("a broken ZIP64 record");
      location = { entries: u64(record, 32), size: u64(record, 40), offset: u64(record, 48) };
    }
  }
  if (location.offset + location.size > fileSize) throw corrupt("the central directory lies past the end");
  return location;
}

/** The ZIP64 extra field replaces exactly the fields that hold 0xFFFFFFFF, in this order. */
function applyZip64(
  extra: Buffer,
  sizes: { uncompressedSize: number; compressedSize: number; localHeaderOffset: number },
): void {
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    const body = extra.subarray(at + 4, at + 4 + length);
    if (id === ZIP64_EXTRA) {
      let field = 0;
      const next = (): number => {
        if (field + 8 > body.length) throw corrupt("a short ZIP64 field");
        const value = u64(body, field);
        field += 8;
        return value;
      };
      if (sizes.uncompressedSize === 0xffffffff) sizes.uncompressedSize = next();
      if (sizes.compressedSize === 0xffffffff) sizes.compressedSize = next();
      if (sizes.localHeaderOffset === 0xffffffff) sizes.localHeaderOffset = next();
      return;
    }
    at += 4 + length;
  }
}

function kindOf(name: string, versionMadeBy: number, externalAttributes: number): ZipEntryKind {
  if (versionMadeBy >>> 8 === UNIX_HOST) {
    const type = (externalAttributes >>> 16) & 0o170000;
    if (type === 0o120000) return "symlink";
    if (type === 0o040000) return "directory";
    if (type !== 0 && type !== 0o100000) return "other";
  }
  return name.endsWith("/") ? "directory" : "file";
}

export async function readZipDirectory(handle: FileHandle, fileSize: number): Promise<ZipEntry[]> {
  const location = await locateDirectory(handle, fileSize);
  if (location.entries > MAX_ZIP_ENTRIES) {
    throw new ArchiveError(
      "UNSUPPORTED_ARCHIVE",
      `the ZIP archive has ${location.entries} entries, more than the ${MAX_ZIP_ENTRIES} this server extracts`,
    );
  }
  const directory = await readAt(handle, location.offset, location.size);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < location.entries; i++) {
    if (at + CENTRAL_SIZE > directory.length || directory.readUInt32LE(at) !== CENTRAL_SIGNATURE) {
      throw corrupt("a broken central directory entry");
    }
    const versionMadeBy = directory.readUInt16LE(at + 4);
    const flags = directory.readUInt16LE(at + 8);
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const end = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (end > directory.length) throw corrupt("a central directory entry runs past its end");
    const nameBytes = directory.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength);
    const name = nameBytes.toString(flags & 0x800 ? "utf8" : "latin1");
    const sizes = {
      compressedSize: directory.readUInt32LE(at + 20),
      uncompressedSize: directory.readUInt32LE(at + 24),
      localHeaderOffset: directory.readUInt32LE(at + 42),
    };
    applyZip64(
      directory.subarray(at + CENTRAL_SIZE + nameLength, at + CENTRAL_SIZE + nameLength + extraLength),
      sizes,
    );
    const local = await readAt(handle, sizes.localHeaderOffset, LOCAL_SIZE);
    if (local.readUInt32LE(0) !== LOCAL_SIGNATURE) throw corrupt(`no local header for entry ${i}`);
    const dataStart = sizes.localHeaderOffset + LOCAL_SIZE + local.readUInt16LE(26) + local.readUInt16LE(28);
    const dataEnd = dataStart + sizes.compressedSize;
    if (dataEnd > location.offset) throw corrupt(`the data of entry ${i} runs into the central directory`);
    entries.push({
      name,
      kind: kindOf(name, versionMadeBy, directory.readUInt32LE(at + 38)),
      encrypted: (flags & 0x1) !== 0,
      method: directory.readUInt16LE(at + 10),
      crc32: directory.readUInt32LE(at + 16),
      compressedSize: sizes.compressedSize,
      uncompressedSize: sizes.uncompressedSize,
      dataStart,
      dataEnd,
    });
    at = end;
  }
  return entries;
}
