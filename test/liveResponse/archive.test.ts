import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { zipSync } from "fflate";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { detectFormat } from "../../src/liveResponse/archive.js";
import { ArchiveError } from "../../src/liveResponse/archiveError.js";
import { saveCollectedFile } from "../../src/liveResponse/getFileResult.js";
import { rejectionOf } from "../defender/clientFixture.js";
import { craftZip, type CraftedEntry } from "./zipCrafting.js";

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const MiB = 1024 * 1024;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lr-archive-"));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

/** A finished download as the blob client leaves it, then saved as command 3's result. */
async function save(body: Uint8Array, devicePath: string | undefined, maxFileBytes = 64 * MiB) {
  const path = join(dir, `command-3-${Math.random().toString(16).slice(2)}.download`);
  await writeFile(path, body, { mode: 0o600 });
  return saveCollectedFile(
    { path, bytes: body.length, sha256: sha256(body) },
    { dir, index: 3, devicePath, maxFileBytes },
  );
}

async function refusal(body: Uint8Array, maxFileBytes?: number): Promise<ArchiveError> {
  const error = await rejectionOf(save(body, "C:\\Temp\\evidence.bin", maxFileBytes));
  expect(error).toBeInstanceOf(ArchiveError);
  return error as ArchiveError;
}

/** Only the kept, unextracted archive is left: nothing was written from it. */
async function expectOnlyKeptArchive(error: ArchiveError): Promise<void> {
  const files = await readdir(dir);
  expect(files).toEqual(["command-3-unextracted.zip"]);
  expect(error.message).toContain(`the archive is kept unextracted at ${join(dir, files[0]!)}`);
}

const content = Buffer.from(
  "MZ\u0090\u0000 not really a program\r\n\u0000\u0001 binary stays binary",
  "latin1",
);

describe("format detection", () => {
  it("reads ZIP and gzip magic bytes; anything else is raw", () => {
    expect(detectFormat(Buffer.from("PK\u0003\u0004rest", "latin1"))).toBe("zip");
    expect(detectFormat(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe("gzip");
    expect(detectFormat(Buffer.from("PK\u0005\u0006", "latin1"))).toBe("raw");
    expect(detectFormat(Buffer.from("MZ"))).toBe("raw");
    expect(detectFormat(Buffer.alloc(0))).toBe("raw");
  });
});

describe("saveCollectedFile", () => {
  it("extracts the single file of a ZIP under its own name and deletes the archive", async () => {
    const zip = zipSync({ "invoice.pdf.exe": content });
    const result = await save(zip, "C:\\Windows\\Temp\\invoice.pdf.exe");
    expect(result).toEqual({
      type: "GetFile",
      index: 3,
      savedPath: join(dir, "invoice.pdf.exe"),
      bytes: content.length,
      sha256: sha256(content),
      format: "zip",
      archiveSha256: sha256(zip),
    });
    expect(await readFile(result.savedPath)).toEqual(content);
    expect((await stat(result.savedPath)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["invoice.pdf.exe"]);
  });

  it("decompresses gzip into a file named after the device's file", async () => {
    const gz = gzipSync(content);
    const result = await save(gz, "/var/log/auth.log");
    expect(result).toMatchObject({ savedPath: join(dir, "auth.log"), format: "gzip", bytes: content.length });
    expect(result.sha256).toBe(sha256(content));
    expect(result.archiveSha256).toBe(sha256(gz));
    expect(await readdir(dir)).toEqual(["auth.log"]);
  });

  it("keeps a device file that is itself gzip as it is", async () => {
    const gz = gzipSync(content);
    const result = await save(gz, "/var/log/syslog.2.gz");
    expect(result).toMatchObject({
      format: "raw",
      bytes: gz.length,
      sha256: sha256(gz),
      archiveSha256: null,
    });
    expect(await readFile(result.savedPath)).toEqual(gz);
  });

  it("keeps a raw file as delivered and never overwrites an earlier one", async () => {
    const first = await save(content, "C:\\Temp\\notes.txt");
    const second = await save(Buffer.from("second"), "C:\\Temp\\notes.txt");
    expect(first).toMatchObject({ format: "raw", savedPath: join(dir, "notes.txt"), archiveSha256: null });
    expect(second.savedPath).toBe(join(dir, "notes-1.txt"));
    expect(await readFile(first.savedPath)).toEqual(content);
    expect(await readFile(second.savedPath, "utf8")).toBe("second");
    expect((await stat(second.savedPath)).mode & 0o777).toBe(0o600);
  });

  it("names a file it cannot name safely after the command", async () => {
    const result = await save(content, "C:\\Temp\\..");
    expect(basename(result.savedPath)).toBe("command-3.bin");
    const noPath = await save(content, undefined);
    expect(basename(noPath.savedPath)).toBe("command-3-1.bin");
  });

  it("extracts a ZIP of several files into a folder, with a manifest of their hashes beside it", async () => {
    const a = Buffer.from("first file\n");
    const b = Buffer.from("second file\n");
    const zip = zipSync({ "a.txt": a, "logs/": new Uint8Array(0), "logs/b.txt": b });
    const result = await save(zip, "C:\\Temp\\bundle.zip");
    const folder = join(dir, "command-3-files");
    const manifest =
      `${sha256(a)}  a.txt\n${sha256(b)}  logs/b.txt\n`.split("\n").filter(Boolean).sort().join("\n") + "\n";
    expect(result).toMatchObject({
      savedPath: folder,
      bytes: a.length + b.length,
      sha256: sha256(manifest),
      format: "zip",
    });
    expect(await readFile(join(folder, "a.txt"))).toEqual(a);
    expect(await readFile(join(folder, "logs", "b.txt"))).toEqual(b);
    expect(await readFile(join(dir, "command-3-files.sha256"), "utf8")).toBe(manifest);
    expect((await readdir(dir)).sort()).toEqual(["command-3-files", "command-3-files.sha256"]);
  });

  it("reads ZIP64 sizes and offsets", async () => {
    const result = await save(
      craftZip([{ name: "big.evtx", data: content }], { zip64: true }),
      "C:\\big.evtx",
    );
    expect(result).toMatchObject({ bytes: content.length, sha256: sha256(content), format: "zip" });
  });
});

describe("refused archives", () => {
  it.each([
    ["../evil.txt"],
    ["ok/../../evil.txt"],
    ["/etc/cron.d/evil"],
    ["\\Windows\\evil.dll"],
    ["C:\\Windows\\evil.dll"],
    ["c:evil.dll"],
    ["a\\..\\..\\evil.txt"],
  ])("refuses the entry name %j (zip slip) and writes nothing", async (name) => {
    const error = await refusal(
      craftZip([
        { name: "fine.txt", data: content },
        { name, data: content },
      ]),
    );
    expect(error.code).toBe("UNSAFE_ARCHIVE");
    await expectOnlyKeptArchive(error);
  });

  it("refuses symbolic links and special files", async () => {
    const link = await refusal(
      craftZip([{ name: "passwd", data: Buffer.from("/etc/passwd"), unixMode: 0o120777 }]),
    );
    expect(link.code).toBe("UNSAFE_ARCHIVE");
    expect(link.message).toContain("symbolic link");
    await rm(join(dir, "command-3-unextracted.zip"));
    const fifo = await refusal(craftZip([{ name: "pipe", data: Buffer.alloc(0), unixMode: 0o010644 }]));
    expect(fifo.message).toContain("special file");
  });

  it("stops a zip bomb by its declared size before inflating anything", async () => {
    const error = await refusal(craftZip([{ name: "noise", data: randomBytes(2 * MiB) }]), 1 * MiB);
    expect(error.code).toBe("ARCHIVE_TOO_LARGE");
    expect(error.message).toContain(`more than the ${MiB}-byte limit`);
    await expectOnlyKeptArchive(error);
  });

  it("stops an entry that would expand more than 1000 times, whatever the cap", async () => {
    const error = await refusal(craftZip([{ name: "zeros", data: Buffer.alloc(16 * MiB) }]));
    expect(error.code).toBe("ARCHIVE_TOO_LARGE");
    expect(error.message).toMatch(/would expand \d+ times/);
  });

  it("stops inflating an entry that lies about its size, and removes what it wrote", async () => {
    const error = await refusal(
      craftZip([{ name: "small.txt", data: Buffer.alloc(4 * MiB, 0x41), declaredSize: 100 }]),
    );
    expect(error.code).toBe("ARCHIVE_TOO_LARGE");
    expect(error.message).toContain("inflates past its declared 100 bytes");
    await expectOnlyKeptArchive(error);
  });

  it("refuses entries that share their data (overlapping-entry bomb)", async () => {
    const entries: CraftedEntry[] = [
      { name: "a.txt", data: content },
      { name: "b.txt", data: content, sharesDataWith: 0 },
    ];
    const error = await refusal(craftZip(entries));
    expect(error.code).toBe("UNSAFE_ARCHIVE");
    expect(error.message).toContain("share their data");
  });

  it("refuses encrypted entries and unknown compression methods", async () => {
    const encrypted = await refusal(craftZip([{ name: "secret.txt", data: content, flags: 0x1 }]));
    expect(encrypted.code).toBe("UNSUPPORTED_ARCHIVE");
    expect(encrypted.message).toContain("password-protected");
    await rm(join(dir, "command-3-unextracted.zip"));
    const bzip2 = await refusal(craftZip([{ name: "x.txt", data: content, method: 12 }]));
    expect(bzip2.code).toBe("UNSUPPORTED_ARCHIVE");
  });

  it("refuses damaged archives: wrong checksum, no central directory, no file", async () => {
    const crc = await refusal(craftZip([{ name: "x.txt", data: content, crc32: 12345 }]));
    expect(crc.code).toBe("CORRUPT_ARCHIVE");
    await expectOnlyKeptArchive(crc);
    await rm(join(dir, "command-3-unextracted.zip"));
    const truncated = await refusal(
      Buffer.concat([Buffer.from("PK\u0003\u0004", "latin1"), Buffer.alloc(64, 7)]),
    );
    expect(truncated.code).toBe("CORRUPT_ARCHIVE");
    await rm(join(dir, "command-3-unextracted.zip"));
    const empty = await refusal(zipSync({ "folder/": new Uint8Array(0) }));
    expect(empty.message).toContain("holds no file");
  });

  it("stops gzip data past the cap and refuses damaged gzip", async () => {
    const bomb = await refusal(gzipSync(Buffer.alloc(8 * MiB)), 1 * MiB);
    expect(bomb.code).toBe("ARCHIVE_TOO_LARGE");
    expect(await readdir(dir)).toEqual(["command-3-unextracted.gz"]);
    await rm(join(dir, "command-3-unextracted.gz"));
    const gz = gzipSync(content);
    const damaged = await refusal(Buffer.concat([gz.subarray(0, 12), Buffer.alloc(20, 0xff)]));
    expect(damaged.code).toBe("CORRUPT_ARCHIVE");
    expect(await readdir(dir)).toEqual(["command-3-unextracted.gz"]);
  });
});
