import { describe, expect, it } from "vitest";
import {
  FORBIDDEN_ARGS_MESSAGE,
  ORDER_RULE_MESSAGE,
  parseCancelBody,
  parseLiveResponseBody,
} from "../../src/simulator/commandValidation.js";

const script = { type: "RunScript", params: [{ key: "ScriptName", value: "Get-ProcessList.ps1" }] };
const get = { type: "GetFile", params: [{ key: "Path", value: "C:\\Windows\\Temp\\x.exe" }] };
const put = { type: "PutFile", params: [{ key: "FileName", value: "procdump64.exe" }] };

function errorOf(body: unknown): { status: number; code: string; message: string } {
  const result = parseLiveResponseBody(body);
  if (result.ok) throw new Error("expected the body to be rejected");
  return result.error;
}

describe("parseLiveResponseBody", () => {
  it("accepts a well-formed body and keeps commands and params as sent", () => {
    const result = parseLiveResponseBody({
      Commands: [put, { ...script, params: [...script.params, { key: "Args", value: "-Days 7" }] }, get],
      Comment: "IR-1042",
    });
    expect(result).toEqual({
      ok: true,
      value: {
        commands: [
          put,
          {
            type: "RunScript",
            params: [
              { key: "ScriptName", value: "Get-ProcessList.ps1" },
              { key: "Args", value: "-Days 7" },
            ],
          },
          get,
        ],
        comment: "IR-1042",
      },
    });
  });

  it("treats a missing Comment as null", () => {
    const result = parseLiveResponseBody({ Commands: [script] });
    expect(result.ok && result.value.comment).toBeNull();
  });

  it("rejects a body that is not an object", () => {
    for (const body of [null, "x", [script], 3]) {
      expect(errorOf(body)).toMatchObject({ status: 400, code: "InvalidRequestBody" });
    }
  });

  it("requires Commands, case-sensitively", () => {
    expect(errorOf({ Comment: "x" })).toEqual({
      status: 400,
      code: "MissingRequiredParameter",
      message: "Missing required parameter Commands",
    });
    const wrongCase = errorOf({ commands: [script], Comment: "x" });
    expect(wrongCase.code).toBe("InvalidRequestBody");
    expect(wrongCase.message).toContain("case-sensitive");
    expect(wrongCase.message).toContain("'Commands'");
    expect(errorOf({ Commands: [script], comment: "x" }).message).toContain("'Comment'");
  });

  it("ignores unknown body members (as JSON binding does), rejects a non-string Comment", () => {
    expect(parseLiveResponseBody({ Commands: [script], Comment: "x", Reason: "x" }).ok).toBe(true);
    expect(errorOf({ Commands: [script], Comment: 42 }).code).toBe("InvalidRequestBody");
  });

  it("rejects Commands that is not an array, or empty", () => {
    expect(errorOf({ Commands: script }).code).toBe("InvalidRequestBody");
    expect(errorOf({ Commands: [] })).toMatchObject({ status: 400, code: "InvalidRequestBody" });
  });

  it("wants lowercase type/params/key/value in commands", () => {
    expect(errorOf({ Commands: [{ Type: "RunScript", params: script.params }] }).message).toContain("'type'");
    expect(errorOf({ Commands: [{ type: "RunScript", Params: script.params }] }).message).toContain(
      "'params'",
    );
    expect(
      errorOf({ Commands: [{ type: "RunScript", params: [{ Key: "ScriptName", value: "a.ps1" }] }] }).code,
    ).toBe("InvalidRequestBody");
    expect(errorOf({ Commands: [{ params: script.params }] })).toMatchObject({
      code: "MissingRequiredParameter",
    });
  });

  it("rejects an unknown command type", () => {
    const error = errorOf({ Commands: [{ type: "RunCommand", params: [] }] });
    expect(error).toMatchObject({ status: 400, code: "InvalidRequestBody" });
    expect(error.message).toContain("PutFile, RunScript or GetFile");
  });

  it("names the missing required parameter of each command type", () => {
    expect(errorOf({ Commands: [{ type: "RunScript", params: [] }] })).toMatchObject({
      status: 400,
      code: "MissingRequiredParameter",
    });
    expect(errorOf({ Commands: [{ type: "RunScript", params: [] }] }).message).toContain("ScriptName");
    expect(errorOf({ Commands: [{ type: "GetFile" }] }).message).toContain("Path");
    expect(
      errorOf({ Commands: [{ type: "PutFile", params: [{ key: "FileName", value: " " }] }] }).message,
    ).toContain("FileName");
  });

  it("rejects parameter keys in the wrong case, unknown keys, duplicates and non-string values", () => {
    const wrongCase = errorOf({ Commands: [{ type: "GetFile", params: [{ key: "path", value: "C:\\a" }] }] });
    expect(wrongCase.code).toBe("InvalidRequestBody");
    expect(wrongCase.message).toContain("case-sensitive");
    expect(
      errorOf({ Commands: [{ type: "RunScript", params: [...script.params, { key: "args", value: "x" }] }] })
        .code,
    ).toBe("InvalidRequestBody");
    expect(
      errorOf({ Commands: [{ type: "RunScript", params: [...script.params, ...script.params] }] }).code,
    ).toBe("InvalidRequestBody");
    expect(errorOf({ Commands: [{ type: "GetFile", params: [{ key: "Path", value: 7 }] }] }).code).toBe(
      "InvalidRequestBody",
    );
  });

  it("enforces PutFile, then RunScript, then GetFile, and says so", () => {
    for (const commands of [
      [script, put],
      [get, script],
      [get, put],
      [put, get, script],
    ]) {
      const error = errorOf({ Commands: commands });
      expect(error).toMatchObject({ status: 400, code: "InvalidRequestBody" });
      expect(error.message).toContain(ORDER_RULE_MESSAGE);
    }
    expect(parseLiveResponseBody({ Commands: [put, put, script, script, get, get] }).ok).toBe(true);
  });

  it.each([";", "&", "|", "!", "$", "(", ")"])("rejects %s in script arguments", (character) => {
    const error = errorOf({
      Commands: [
        { type: "RunScript", params: [...script.params, { key: "Args", value: `-Days 7 ${character} x` }] },
      ],
    });
    expect(error).toEqual({ status: 400, code: "InvalidInput", message: FORBIDDEN_ARGS_MESSAGE });
  });

  it("states the forbidden characters in the documented words", () => {
    expect(FORBIDDEN_ARGS_MESSAGE).toBe(
      "Please avoid using the following characters as part of scripts' parameters: ; & | ! $ ( )",
    );
  });

  it("rejects an empty Args value", () => {
    const error = errorOf({
      Commands: [{ type: "RunScript", params: [...script.params, { key: "Args", value: "" }] }],
    });
    expect(error).toMatchObject({ status: 400, code: "InvalidInput" });
  });

  it("checks the order rule before the argument characters", () => {
    const badArgs = { type: "RunScript", params: [...script.params, { key: "Args", value: "a;b" }] };
    expect(errorOf({ Commands: [badArgs, put] }).code).toBe("InvalidRequestBody");
  });
});

describe("parseCancelBody", () => {
  it("returns the comment", () => {
    expect(parseCancelBody({ Comment: "stop it" })).toEqual({ ok: true, value: "stop it" });
  });

  it("requires Comment", () => {
    for (const body of [{}, { Comment: null }, { Comment: "  " }]) {
      const result = parseCancelBody(body);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error).toEqual({
        status: 400,
        code: "MissingRequiredParameter",
        message: "Missing required parameter Comment",
      });
    }
  });

  it("rejects a wrong-cased Comment and non-objects, ignores other members", () => {
    expect(parseCancelBody({ Comment: "x", Force: true }).ok).toBe(true);
    for (const body of [{ comment: "x" }, "x", null, { Comment: 1 }]) {
      const result = parseCancelBody(body);
      expect(!result.ok && result.error.code).toBe("InvalidRequestBody");
    }
  });
});
