import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import type { ActionEngine } from "../../src/simulator/actionEngine.js";
import { defaultScenario } from "../../src/simulator/defaultScenario.js";
import { ScriptBehaviourSchema } from "../../src/simulator/scenario.js";
import { renderTranscript } from "../../src/simulator/scriptRun.js";
import { DEVICES, getFile, makeEngine, putFile, runScript, submitNew } from "./engineHarness.js";

const HEADER =
  /^Transcript started, output file is C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\Temp\\PSScriptOutputs\\PSScript_Transcript_\{[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\}\.txt\n/;

function download(engine: ActionEngine, id: string, index: number): Buffer {
  const result = engine.resultContent(id, index);
  if (result.kind !== "ok") throw new Error(`expected a result, got ${JSON.stringify(result.error)}`);
  return result.body;
}

function transcript(engine: ActionEngine, id: string, index: number): Record<string, unknown> {
  return JSON.parse(download(engine, id, index).toString("utf8")) as Record<string, unknown>;
}

describe("RunScript results", () => {
  it("are the documented JSON, PowerShell output wrapped in the transcript header and NULs", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(60);
    const result = engine.resultContent(id, 0);
    expect(result.kind === "ok" && result.contentType).toBe("application/json");
    const json = transcript(engine, id, 0);
    expect(Object.keys(json)).toEqual(["script_name", "exit_code", "script_output", "script_errors"]);
    expect(json).toMatchObject({ script_name: "Get-ProcessList.ps1", exit_code: 0, script_errors: "" });
    const output = json.script_output as string;
    expect(output).toMatch(HEADER);
    expect(output.endsWith("\u0000\u0000\u0000")).toBe(true);
    expect(output).toContain(`Process list for fin-ws-0142.contoso.com (${DEVICES.finance})`);
    expect(output).toContain("invoice_2291.pdf.exe");
    // The raw download escapes the NULs the way the reference sample shows them.
    expect(download(engine, id, 0).toString("utf8")).toContain("\\u0000\\u0000\\u0000");
  });

  it("download the same bytes every time", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [runScript("Big-Output.ps1")]);
    clock.advanceSeconds(60);
    expect(download(engine, id, 0).equals(download(engine, id, 0))).toBe(true);
  });

  it("use the per-platform behaviour when the scenario has one", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.dc, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(60);
    expect(transcript(engine, id, 0).script_output).toContain("comsvcs.dll, MiniDump");
  });

  it("fill placeholders including {args}", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [runScript("Get-RecentFiles.ps1", "-Days 7")]);
    clock.advanceSeconds(60);
    expect(transcript(engine, id, 0).script_output).toContain(
      "Files written on fin-ws-0142.contoso.com (arguments: -Days 7)",
    );
  });

  it("carry a non-zero exit code and the script's errors", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.hr, [runScript("Exit-NonZero.ps1")]);
    clock.advanceSeconds(60);
    const json = transcript(engine, id, 0);
    expect(json.exit_code).toBe(3);
    expect(json.script_errors).toContain("Cannot find path 'C:\\Windows\\Temp\\IR\\collect.cfg'");
    expect(json.script_output).toContain("Checking prerequisites on hr-ws-0087.contoso.com");
  });

  it("of Bash scripts have no transcript header and no NULs", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.web, [runScript("linux-triage.sh")]);
    clock.advanceSeconds(60);
    const output = transcript(engine, id, 0).script_output as string;
    expect(output.startsWith("== host ==\nweb-prod-01.contoso.com")).toBe(true);
    expect(output).not.toContain("\u0000");
  });

  it("reach megabytes when the behaviour asks for extra output", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [runScript("Big-Output.ps1")]);
    clock.advanceSeconds(60);
    const output = transcript(engine, id, 0).script_output as string;
    expect(output).toMatch(HEADER);
    expect(output.length).toBeGreaterThan(3_145_728);
    expect(output).toContain("Full process inventory for fin-ws-0142.contoso.com\nHandles  NPM(K)");
    const rows = output
      .split("\n")
      .filter((line) => /^\s+\d+\s+\d+\s+\d+\s+\d+\s+[\d.]+\s+\d+\s+\d \S+$/.test(line));
    expect(rows.length).toBeGreaterThan(30_000);
  });
});

describe("renderTranscript", () => {
  const device = defaultScenario().devices[0]!;

  it("fills every placeholder", () => {
    const behaviour = ScriptBehaviourSchema.parse({
      output: "{scriptName} on {computerDnsName} ({machineId}) with {args}; {unknown} stays",
      errors: "{scriptName} warned",
      transcriptHeader: false,
    });
    const result = renderTranscript({ scriptName: "Probe.ps1", args: "-Deep", device, behaviour, seed: "s" });
    expect(result.output).toBe(
      `Probe.ps1 on fin-ws-0142.contoso.com (${device.id}) with -Deep; {unknown} stays`,
    );
    expect(result.errors).toBe("Probe.ps1 warned");
  });

  it("gives extra output exactly the requested size and leaves out the header when asked", () => {
    const behaviour = ScriptBehaviourSchema.parse({
      output: "",
      extraOutputBytes: 5000,
      transcriptHeader: false,
    });
    const result = renderTranscript({
      scriptName: "Probe.ps1",
      args: undefined,
      device,
      behaviour,
      seed: "s",
    });
    expect(result.output).toHaveLength(5000);
    expect(result.output.startsWith("Handles")).toBe(true);
  });

  it("names the transcript after the seed, so each command has its own", () => {
    const behaviour = ScriptBehaviourSchema.parse({ output: "x" });
    const a = renderTranscript({ scriptName: "P.ps1", args: undefined, device, behaviour, seed: "a:0" });
    const b = renderTranscript({ scriptName: "P.ps1", args: undefined, device, behaviour, seed: "b:0" });
    expect(a.output.split("\n")[0]).not.toBe(b.output.split("\n")[0]);
  });
});

describe("GetFile results", () => {
  it("are a ZIP holding the file at its root under its base name", () => {
    const { engine, clock } = makeEngine();
    const path =
      "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\updater.lnk";
    const id = submitNew(engine, DEVICES.finance, [getFile(path)]);
    clock.advanceSeconds(60);
    const result = engine.resultContent(id, 0);
    expect(result.kind === "ok" && result.contentType).toBe("application/octet-stream");
    const zip = download(engine, id, 0);
    expect(zip.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    const entries = unzipSync(zip);
    expect(Object.keys(entries)).toEqual(["updater.lnk"]);
    const expected = Buffer.from(defaultScenario().devices[0]!.files[1]!.contentBase64!, "base64");
    expect(Buffer.from(entries["updater.lnk"]!).equals(expected)).toBe(true);
    expect(download(engine, id, 0).equals(zip)).toBe(true);
  });

  it("collect text files from Linux paths", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.web, [getFile("/var/log/auth.log")]);
    clock.advanceSeconds(60);
    const entries = unzipSync(download(engine, id, 0));
    const text = Buffer.from(entries["auth.log"]!).toString("utf8");
    expect(text).toBe(defaultScenario().devices.find((d) => d.id === DEVICES.web)!.files[0]!.content);
  });

  it("generate multi-megabyte files deterministically", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.dc, [getFile("C:\\Windows\\Temp\\lsass.dmp")]);
    clock.advanceSeconds(60);
    const first = Buffer.from(unzipSync(download(engine, id, 0))["lsass.dmp"]!);
    expect(first.length).toBe(8_388_608);
    expect(first.some((byte) => byte !== 0)).toBe(true);
    // Same device and path, another action: the same file.
    const again = submitNew(engine, DEVICES.dc, [getFile("C:\\Windows\\Temp\\lsass.dmp")]);
    clock.advanceSeconds(60);
    expect(Buffer.from(unzipSync(download(engine, again, 0))["lsass.dmp"]!).equals(first)).toBe(true);
  });
});

describe("result errors", () => {
  function setup(): { engine: ActionEngine; id: string } {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [
      putFile("procdump64.exe"),
      runScript("Get-NetConnections.ps1"),
      getFile("C:\\Windows\\Temp\\invoice_2291.pdf.exe"),
    ]);
    clock.advanceSeconds(60);
    return { engine, id };
  }

  it("404 ResourceNotFound for an unknown action", () => {
    const { engine } = setup();
    expect(engine.resultContent("6f1c2a7e-0000-4000-8000-000000000000", 0)).toMatchObject({
      kind: "error",
      error: { status: 404, code: "ResourceNotFound" },
    });
  });

  it("400 InvalidInput for an index that is not a command", () => {
    const { engine, id } = setup();
    for (const index of [3, -1, 1.5]) {
      expect(engine.resultContent(id, index)).toMatchObject({
        kind: "error",
        error: { status: 400, code: "InvalidInput" },
      });
    }
  });

  it("404 ResourceNotFound for a PutFile, which has no result", () => {
    const { engine, id } = setup();
    const result = engine.resultContent(id, 0);
    expect(result).toMatchObject({ kind: "error", error: { status: 404, code: "ResourceNotFound" } });
    expect(result.kind === "error" && result.error.message).toContain("PutFile");
  });

  it("400 BadRequest for a command that has not completed, or failed", () => {
    const { engine, clock } = makeEngine();
    const running = submitNew(engine, DEVICES.finance, [runScript("Get-Autoruns.ps1")]);
    expect(engine.resultContent(running, 0)).toMatchObject({
      kind: "error",
      error: { status: 400, code: "BadRequest" },
    });
    const failed = submitNew(engine, DEVICES.hr, [getFile("C:\\missing.txt")]);
    clock.advanceSeconds(60);
    expect(engine.resultContent(failed, 0)).toMatchObject({
      kind: "error",
      error: { status: 400, code: "BadRequest" },
    });
    expect(engine.resultContent(running, 0).kind).toBe("ok");
  });

  it("keeps results of commands that completed before a cancel", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [
      runScript("Get-NetConnections.ps1"),
      runScript("Get-Autoruns.ps1"),
    ]);
    clock.advanceSeconds(2 + 3 + 1);
    expect(engine.cancelAction(id, { Comment: "enough" }, "x").kind).toBe("ok");
    clock.advanceSeconds(60);
    expect(engine.resultContent(id, 0).kind).toBe("ok");
    expect(engine.resultContent(id, 1)).toMatchObject({ kind: "error", error: { code: "BadRequest" } });
  });
});
