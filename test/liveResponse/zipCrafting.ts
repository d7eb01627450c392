import { crc32, deflateRawSync } from "node:zlib";

/**
 * Writes ZIP files the way an attacker or an unusual producer might: sizes and checksums that lie,
 * link and special-file modes, encryption flags, entries sharing data, ZIP64 records. Real archives
 * come from fflate in the tests; this is for what fflate would never write.
 */
export interface CraftedEntry {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflate (default), anything else is written as stored bytes under that method number. */
  method?: number;
  /** What the central directory claims instead of the truth. */
  declaredSize?: number;
  crc32?: number;
  flags?: number;
  /** A Unix mode (e.g. 0o120777 for a symbolic link): the entry is marked as made on Unix. */
  unixMode?: number;
  /** Points the central directory at another entry's local header (see `localHeaderOffsetOf`). */
  sharesDataWith?: number;
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

export function craftZip(entries: CraftedEntry[], options: { zip64?: boolean } = {}): Buffer {
  const zip64 = options.zip64 ?? false;
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const entry of entries) {
    const method = entry.method ?? 8;
    const compressed = method === 8 ? deflateRawSync(entry.data) : Buffer.from(entry.data);
    const size = entry.declaredSize ?? entry.data.length;
    const crc = entry.crc32 ?? crc32(entry.data);
    const name = Buffer.from(entry.name, "utf8");
    const flags = (entry.flags ?? 0) | 0x800;
    const version = zip64 ? 45 : 20;
    const localExtra = zip64
      ? Buffer.concat([u16(1), u16(16), u64(size), u64(compressed.length)])
      : Buffer.alloc(0);
    const local = Buffer.concat([
      u32(0x04034b50),
      u16(version),
      u16(flags),
      u16(method),
      u16(0),
      u16(0x21),
      u32(crc),
      u32(zip64 ? 0xffffffff : compressed.length),
      u32(zip64 ? 0xffffffff : size),
      u16(name.length),
      u16(localExtra.length),
      name,
      localExtra,
      compressed,
    ]);
    offsets.push(offset);
    const headerOffset = entry.sharesDataWith === undefined ? offset : offsets[entry.sharesDataWith]!;
    const centralExtra = zip64
      ? Buffer.concat([u16(1), u16(24), u64(size), u64(compressed.length), u64(headerOffset)])
      : Buffer.alloc(0);
    centrals.push(
      Buffer.concat([
        u32(0x02014b50),
        u16(entry.unixMode === undefined ? version : (3 << 8) | version),
        u16(version),
        u16(flags),
        u16(method),
        u16(0),
        u16(0x21),
        u32(crc),
        u32(zip64 ? 0xffffffff : compressed.length),
        u32(zip64 ? 0xffffffff : size),
        u16(name.length),
        u16(centralExtra.length),
        u16(0),
        u16(0),
        u16(0),
        u32(entry.unixMode === undefined ? 0 : entry.unixMode * 0x10000),
        u32(zip64 ? 0xffffffff : headerOffset),
        name,
        centralExtra,
      ]),
    );
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(centrals);
  const directoryOffset = offset;
  const tail: Buffer[] = [];
  if (zip64) {
    const recordOffset = directoryOffset + directory.length;
    tail.push(
      Buffer.concat([
        u32(0x06064b50),
        u64(44),
        u16(45),
        u16(45),
        u32(0),
        u32(0),
        u64(entries.length),
        u64(entries.length),
        u64(directory.length),
        u64(directoryOffset),
      ]),
      Buffer.concat([u32(0x07064b50), u32(0), u64(recordOffset), u32(1)]),
    );
  }
  tail.push(
    Buffer.concat([
      u32(0x06054b50),
      u16(0),
      u16(0),
      u16(zip64 ? 0xffff : entries.length),
      u16(zip64 ? 0xffff : entries.length),
      u32(zip64 ? 0xffffffff : directory.length),
      u32(zip64 ? 0xffffffff : directoryOffset),
      u16(0),
    ]),
  );
  return Buffer.concat([...locals, directory, ...tail]);
}
