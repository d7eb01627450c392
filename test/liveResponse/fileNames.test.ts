import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createUniqueDir,
  createUniqueFile,
  deviceBaseName,
  safeFileName,
} from "../../src/liveResponse/fileNames.js";

describe("device file names", () => {
  it("takes the last segment of Windows and POSIX paths", () => {
    expect(deviceBaseName("C:\\Windows\\Temp\\IR\\EventLogs.zip")).toBe("EventLogs.zip");
    expect(deviceBaseName("/var/log/auth.log")).toBe("auth.log");
    expect(deviceBaseName("C:\\Temp\\")).toBe("");
  });

  it("makes one safe segment, or falls back", () => {
    expect(safeFileName("report.txt", "fb")).toBe("report.txt");
    expect(safeFileName('a/b\\c:d*e?f"g<h>i|j', "fb")).toBe("a_b_c_d_e_f_g_h_i_j");
    // Control characters go (an escape takes what it starts with it); bidi overrides too.
    expect(safeFileName("evil\u0000name\u001b.txt", "fb")).toBe("evilnamext");
    expect(safeFileName("invoice\u202efdp.exe", "fb")).toBe("invoicefdp.exe");
    expect(safeFileName("..", "fb")).toBe("fb");
    expect(safeFileName(".", "fb")).toBe("fb");
    expect(safeFileName("", "fb")).toBe("fb");
    expect(safeFileName("trailing. . ", "fb")).toBe("trailing");
    expect(safeFileName("CON", "fb")).toBe("_CON");
    expect(safeFileName("nul.txt", "fb")).toBe("_nul.txt");
    const long = safeFileName(`${"x".repeat(500)}.evtx`, "fb");
    expect(long.length).toBe(200);
    expect(long.endsWith(".evtx")).toBe(true);
  });
});

describe("unique files and folders", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "lr-names-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("adds a suffix instead of replacing, and creates files for this user only", async () => {
    const paths: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { path, handle } = await createUniqueFile(dir, "dump.dmp");
      await handle.close();
      paths.push(path);
    }
    expect(paths).toEqual([join(dir, "dump.dmp"), join(dir, "dump-1.dmp"), join(dir, "dump-2.dmp")]);
    expect((await stat(paths[0]!)).mode & 0o777).toBe(0o600);
    const folders = [await createUniqueDir(dir, "files"), await createUniqueDir(dir, "files")];
    expect(folders).toEqual([join(dir, "files"), join(dir, "files-1")]);
    expect((await stat(folders[0]!)).mode & 0o777).toBe(0o700);
    expect((await readdir(dir)).length).toBe(5);
  });
});
