import { describe, expect, it } from "vitest";
import { ResultCache } from "../../src/liveResponse/resultCache.js";
import type { GetFileResultData, RunScriptResultData } from "../../src/liveResponse/types.js";

const script = (index: number, chars: number): RunScriptResultData => ({
  type: "RunScript",
  index,
  exitCode: 0,
  output: "x".repeat(chars),
  errors: "",
  outputPath: `/out/${index}`,
});
const file = (index: number): GetFileResultData => ({
  type: "GetFile",
  index,
  savedPath: `/f/${index}`,
  bytes: 1,
  sha256: "0".repeat(64),
  format: "raw",
  archiveSha256: null,
});

describe("ResultCache", () => {
  it("drops the least recently used outputs past its budget, but never a collected file's result", () => {
    const cache = new ResultCache(250);
    cache.set("a:0", file(0));
    cache.set("a:1", script(1, 100));
    cache.set("a:2", script(2, 100));
    expect(cache.get("a:1")?.index).toBe(1); // now the most recently used
    cache.set("a:3", script(3, 100));
    expect(cache.get("a:2")).toBeUndefined();
    expect(cache.get("a:1")?.index).toBe(1);
    expect(cache.get("a:3")?.index).toBe(3);
    expect(cache.get("a:0")?.index).toBe(0);
  });

  it("keys results by action id, whatever its case, and command index", () => {
    expect(ResultCache.key("7F7D4A1C-2B4E-4B6A-9C1D-0E2F3A4B5C6D", 2)).toBe(
      ResultCache.key("7f7d4a1c-2b4e-4b6a-9c1d-0e2f3a4b5c6d", 2),
    );
  });
});
