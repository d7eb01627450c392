import { describe, expect, it } from "vitest";
import { cleanText } from "../../src/liveResponse/cleanText.js";
import { parseRunScriptResult } from "../../src/liveResponse/runScriptResult.js";

const blob = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value), "utf8");

describe("cleanText", () => {
  it("removes NUL and other control characters, keeps newlines and tabs, and normalises CRLF", () => {
    expect(cleanText("a\r\nb\tc\u0000\u0000")).toBe("a\nb\tc");
    expect(cleanText("\u001b[31mred\u001b[0m\u0007\u0085\u009b")).toBe("red");
    expect(cleanText("ünïcödé ✓")).toBe("ünïcödé ✓");
  });

  it("turns a lone carriage return into a newline, so no line can overwrite another on a terminal", () => {
    expect(cleanText("lone\rreturn\u007f")).toBe("lone\nreturn");
    expect(cleanText("all clean\rINFECTED\r\n")).toBe("all clean\nINFECTED\n");
    expect(cleanText("\r\r\n")).toBe("\n\n");
  });
});

describe("parseRunScriptResult", () => {
  it("reads the documented transcript and cleans output and errors", () => {
    const parsed = parseRunScriptResult(
      blob({
        script_name: "minidump.ps1",
        exit_code: 0,
        script_output: "Transcript started\r\nC:\\windows\\TEMP\\x.dmp.zip\n51 MB\n\u0000\u0000\u0000",
        script_errors: "warning\u0000",
      }),
    );
    expect(parsed).toEqual({
      exitCode: 0,
      output: "Transcript started\nC:\\windows\\TEMP\\x.dmp.zip\n51 MB\n",
      errors: "warning",
    });
  });

  it("tolerates missing and mistyped fields", () => {
    expect(parseRunScriptResult(blob({ exit_code: "3" }))).toEqual({ exitCode: 3, output: "", errors: "" });
    expect(parseRunScriptResult(blob({ exit_code: "three", script_output: 42, script_errors: "e" }))).toEqual(
      {
        exitCode: null,
        output: "",
        errors: "e",
      },
    );
  });

  it("takes a blob that is not a JSON object as all output, with no exit code", () => {
    expect(parseRunScriptResult(blob("plain text\r\nfrom the device\u0000"))).toEqual({
      exitCode: null,
      output: "plain text\nfrom the device",
      errors: "",
    });
    expect(parseRunScriptResult(blob("[1,2]"))).toEqual({ exitCode: null, output: "[1,2]", errors: "" });
    expect(parseRunScriptResult(blob("null"))).toEqual({ exitCode: null, output: "null", errors: "" });
  });

  it("skips a UTF-8 byte order mark", () => {
    const withBom = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      blob({ exit_code: 1, script_output: "x" }),
    ]);
    expect(parseRunScriptResult(withBom)).toEqual({ exitCode: 1, output: "x", errors: "" });
  });
});
