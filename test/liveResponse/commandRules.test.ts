import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertLiveResponseCommands, forbiddenArgsCharacters } from "../../src/defender/commandRules.js";
import { InvalidInputError } from "../../src/defender/errors.js";
import { DEVICES, SCRIPT, rejectionOf } from "../defender/clientFixture.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

function rejection(commands: unknown): InvalidInputError {
  try {
    assertLiveResponseCommands(commands);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error("expected the commands to be refused");
}

describe("command rules", () => {
  it("finds each forbidden Args character once", () => {
    expect(forbiddenArgsCharacters("-Days 1")).toEqual([]);
    expect(forbiddenArgsCharacters("a;b&c|d!e$f(g)h;;")).toEqual([";", "&", "|", "!", "$", "(", ")"]);
  });

  it("names the argument, the characters found and how to fix it", () => {
    const error = rejection([
      { type: "RunScript", scriptName: SCRIPT },
      { type: "RunScript", scriptName: "Get-RecentFiles.ps1", args: "-Path $env:TEMP | more" },
    ]);
    expect(error.field).toBe("commands[1].args");
    expect(error.message).toContain('"|", "$"');
    expect(error.message).toContain("cannot be sent through live response");
    expect(error.message).toMatch(/split them into separate arguments/);
    expect(error.message).toMatch(/hard-code them in the library script/);
  });

  it("checks order, types and required parameters", () => {
    expect(
      rejection([
        { type: "GetFile", path: "C:\\x" },
        { type: "PutFile", fileName: "a" },
      ]).field,
    ).toBe("commands");
    expect(rejection([{ type: "Isolate" }]).field).toBe("commands[0].type");
    expect(rejection([null]).field).toBe("commands[0].type");
    expect(rejection([{ type: "GetFile", path: "" }]).field).toBe("commands[0].path");
    expect(rejection([{ type: "PutFile" }]).field).toBe("commands[0].file_name");
    expect(rejection([{ type: "RunScript", scriptName: SCRIPT, args: 5 }]).field).toBe("commands[0].args");
    expect(rejection([]).field).toBe("commands");
    expect(() =>
      assertLiveResponseCommands([
        { type: "PutFile", fileName: "a" },
        { type: "PutFile", fileName: "b" },
        { type: "RunScript", scriptName: SCRIPT, args: "-Days 1" },
        { type: "GetFile", path: "C:\\x" },
      ]),
    ).not.toThrow();
  });
});

describe("the client applies the rules before any call", () => {
  let sf: ServiceFixture;
  beforeAll(async () => {
    sf = await startServiceFixture();
  });
  afterAll(async () => sf.close());

  it("refuses forbidden Args with zero API calls, and leaves blank Args off the wire", async () => {
    const client = sf.fx.client();
    const error = await rejectionOf(
      client.runLiveResponse(DEVICES.finance, {
        commands: [{ type: "RunScript", scriptName: SCRIPT, args: "x; rm" }],
        comment: "x",
      }),
    );
    expect((error as InvalidInputError).field).toBe("commands[0].args");
    expect(sf.totalCalls()).toBe(0);

    const action = await client.runLiveResponse(DEVICES.finance, {
      commands: [{ type: "RunScript", scriptName: SCRIPT, args: "   " }],
      comment: "x",
    });
    expect(action.commands[0]!.command?.params).toEqual([{ key: "ScriptName", value: SCRIPT }]);
  });
});
