import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OFFLINE_QUEUE_SECONDS } from "../../src/simulator/actionEngine.js";
import { defaultScenario } from "../../src/simulator/defaultScenario.js";
import { LibraryFileEntitySchema } from "../../src/simulator/libraryFileEntity.js";
import { MachineActionEntitySchema } from "../../src/simulator/machineActionEntity.js";
import { MachineEntitySchema } from "../../src/simulator/machineEntity.js";
import { parseScenario } from "../../src/simulator/scenario.js";
import {
  body,
  DEVICES,
  getFile,
  makeEngine,
  putFile,
  REQUESTOR,
  runScript,
  submitNew,
} from "./engineHarness.js";
import { MACHINE_ACTION_FIELDS } from "../helpers/referenceShapes.js";

const ACTION_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/;
const COMMAND_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const E_FAIL = -2147467259;

function scenarioWith(
  change: (s: ReturnType<typeof defaultScenario>) => void,
): ReturnType<typeof defaultScenario> {
  const scenario = defaultScenario();
  change(scenario);
  return parseScenario(scenario);
}

describe("ActionEngine: a new action", () => {
  it("is Pending with every MachineAction field, in wire order, nulls where empty", () => {
    const { engine, clock } = makeEngine();
    const outcome = engine.submitLiveResponse(
      DEVICES.finance,
      body(
        [runScript("Get-RecentFiles.ps1", "-Days 7"), getFile("C:\\Windows\\Temp\\invoice_2291.pdf.exe")],
        "IR-1042",
      ),
      REQUESTOR,
    );
    expect(outcome.kind).toBe("created");
    if (outcome.kind !== "created") return;
    const action = outcome.action;
    expect(Object.keys(action)).toEqual(MACHINE_ACTION_FIELDS);
    expect(MachineActionEntitySchema.strict().parse(action)).toEqual(action);
    expect(action).toMatchObject({
      type: "LiveResponse",
      title: null,
      requestor: REQUESTOR,
      requestorComment: "IR-1042",
      status: "Pending",
      machineId: DEVICES.finance,
      computerDnsName: "fin-ws-0142.contoso.com",
      cancellationRequestor: null,
      cancellationComment: null,
      cancellationDateTimeUtc: null,
      errorHResult: 0,
      scope: null,
      externalId: null,
      requestSource: "PublicApi",
      relatedFileInfo: null,
      troubleshootInfo: null,
    });
    expect(action.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(action.creationDateTimeUtc).toMatch(ACTION_TIME);
    expect(action.creationDateTimeUtc).toBe(new Date(clock.now()).toISOString().replace("Z", "0000Z"));
    expect(action.lastUpdateDateTimeUtc).toBe(action.creationDateTimeUtc);
    expect(action.commands).toEqual([
      {
        index: 0,
        startTime: null,
        endTime: null,
        commandStatus: "Created",
        errors: [],
        command: {
          type: "RunScript",
          params: [
            { key: "ScriptName", value: "Get-RecentFiles.ps1" },
            { key: "Args", value: "-Days 7" },
          ],
        },
      },
      {
        index: 1,
        startTime: null,
        endTime: null,
        commandStatus: "Created",
        errors: [],
        command: {
          type: "GetFile",
          params: [{ key: "Path", value: "C:\\Windows\\Temp\\invoice_2291.pdf.exe" }],
        },
      },
    ]);
    expect(Object.keys(action.commands[0]!)).toEqual([
      "index",
      "startTime",
      "endTime",
      "commandStatus",
      "errors",
      "command",
    ]);
  });

  it("gets a fresh random id each time", () => {
    const { engine, clock } = makeEngine();
    const first = submitNew(engine, DEVICES.finance, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(60);
    const second = submitNew(engine, DEVICES.finance, [runScript("Get-ProcessList.ps1")]);
    expect(first).not.toBe(second);
  });
});

describe("ActionEngine: running on an online device", () => {
  it("picks up after the pickup delay, runs commands one after another and succeeds", () => {
    const { engine, clock } = makeEngine();
    const start = clock.now();
    // Get-NetConnections takes 3 s; GetFile of a small file 2 s (plus a negligible size term).
    const id = submitNew(engine, DEVICES.finance, [
      runScript("Get-NetConnections.ps1"),
      getFile("C:\\Windows\\Temp\\invoice_2291.pdf.exe"),
    ]);
    clock.advance(1999);
    expect(engine.getAction(id)!.status).toBe("Pending");
    clock.advance(1);
    const picked = engine.getAction(id)!;
    expect(picked.status).toBe("InProgress");
    expect(picked.commands[0]!.startTime).toBe(new Date(start + 2000).toISOString());
    expect(picked.commands[0]!.commandStatus).toBe("Created");
    expect(picked.commands[0]!.endTime).toBeNull();
    expect(picked.lastUpdateDateTimeUtc).not.toBe(picked.creationDateTimeUtc);

    clock.advanceSeconds(3);
    const midway = engine.getAction(id)!;
    expect(midway.status).toBe("InProgress");
    expect(midway.commands[0]).toMatchObject({ commandStatus: "Completed", errors: [] });
    expect(midway.commands[0]!.endTime).toBe(new Date(start + 5000).toISOString());
    expect(midway.commands[1]!.startTime).toBe(midway.commands[0]!.endTime);
    expect(midway.lastUpdateDateTimeUtc).not.toBe(picked.lastUpdateDateTimeUtc);

    clock.advanceSeconds(3);
    const done = engine.getAction(id)!;
    expect(done.status).toBe("Succeeded");
    expect(done.errorHResult).toBe(0);
    expect(done.commands.map((c) => c.commandStatus)).toEqual(["Completed", "Completed"]);
    for (const command of done.commands) {
      expect(command.startTime).toMatch(COMMAND_TIME);
      expect(command.endTime).toMatch(COMMAND_TIME);
    }
    expect(Date.parse(done.lastUpdateDateTimeUtc)).toBe(Date.parse(done.commands[1]!.endTime!));

    clock.advanceSeconds(3600);
    expect(engine.getAction(id)).toEqual(done);
  });

  it("fails fast: the first failed command fails the action and later commands never start", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [
      runScript("Failing-Script.ps1"),
      runScript("Get-ProcessList.ps1"),
      getFile("C:\\Windows\\Temp\\invoice_2291.pdf.exe"),
    ]);
    clock.advanceSeconds(60);
    const action = engine.getAction(id)!;
    expect(action.status).toBe("Failed");
    expect(action.errorHResult).toBe(E_FAIL);
    expect(action.commands[0]).toMatchObject({
      commandStatus: "Failed",
      errors: [
        "Script execution failed: Requested registry access is not allowed. (HKLM:\\SECURITY\\Policy\\Secrets)",
      ],
    });
    expect(action.commands[0]!.endTime).toMatch(COMMAND_TIME);
    for (const later of action.commands.slice(1)) {
      expect(later).toMatchObject({ commandStatus: "Created", startTime: null, endTime: null, errors: [] });
    }
  });

  it("completes a script that exits non-zero", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [runScript("Exit-NonZero.ps1")]);
    clock.advanceSeconds(60);
    expect(engine.getAction(id)).toMatchObject({ status: "Succeeded", errorHResult: 0 });
  });

  it.each([
    ["C:\\Windows\\Temp\\nothing-here.exe", "was not found on the device"],
    ["C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\WindowsApps\\python.exe", "reparse point"],
    ["C:\\Users\\jdoe\\OneDrive - Contoso\\Finance\\Q4-forecast.xlsx", "placeholder"],
    ["C:\\Windows\\Temp\\IR\\collector.log", "empty"],
  ])("fails a GetFile of %s", (path, reason) => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [getFile(path)]);
    clock.advanceSeconds(60);
    const action = engine.getAction(id)!;
    expect(action.status).toBe("Failed");
    expect(action.commands[0]!.commandStatus).toBe("Failed");
    expect(action.commands[0]!.errors).toHaveLength(1);
    expect(action.commands[0]!.errors[0]).toContain(reason);
    expect(action.commands[0]!.errors[0]).toContain(path);
  });

  it("fails a GetFile of a sparse file", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, "01646d6c331924c57860df4ec2d905eec46a71c5", [
      getFile("D:\\Shares\\Finance\\archive.vhdx"),
    ]);
    clock.advanceSeconds(60);
    expect(engine.getAction(id)!.commands[0]!.errors[0]).toContain("sparse");
  });

  it("matches Windows paths without regard to case or slashes, Linux paths exactly", () => {
    const { engine, clock } = makeEngine();
    const windows = submitNew(engine, DEVICES.finance, [getFile("c:/windows/temp/INVOICE_2291.PDF.EXE")]);
    const linux = submitNew(engine, DEVICES.web, [getFile("/VAR/log/auth.log")]);
    clock.advanceSeconds(60);
    expect(engine.getAction(windows)!.status).toBe("Succeeded");
    expect(engine.getAction(linux)!.status).toBe("Failed");
  });

  it("takes longer to collect a larger file", () => {
    const { engine, clock } = makeEngine();
    // An 8 MiB dump at 10 MiB/s: 2 s + 0.8 s after a 3 s pickup.
    const id = submitNew(engine, DEVICES.dc, [getFile("C:\\Windows\\Temp\\lsass.dmp")]);
    clock.advance(5700);
    expect(engine.getAction(id)!.status).toBe("InProgress");
    clock.advance(100);
    expect(engine.getAction(id)!.status).toBe("Succeeded");
  });

  it.each([
    [DEVICES.web, "Get-ProcessList.ps1", "PowerShell (.ps1) scripts run only on Windows devices"],
    [DEVICES.mac, "Get-Autoruns.ps1", "PowerShell (.ps1) scripts run only on Windows devices"],
    [DEVICES.finance, "linux-triage.sh", "Bash (.sh) scripts run only on Linux and macOS devices"],
    [DEVICES.finance, "procdump64.exe", "is not a script"],
  ])("fails a RunScript the device cannot run (%s, %s)", (device, script, reason) => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, device, [runScript(script)]);
    clock.advanceSeconds(60);
    const action = engine.getAction(id)!;
    expect(action.status).toBe("Failed");
    expect(action.commands[0]!.errors[0]).toContain(reason);
  });

  it("runs Bash scripts on Linux and macOS", () => {
    const { engine, clock } = makeEngine();
    const linux = submitNew(engine, DEVICES.web, [runScript("linux-triage.sh")]);
    const mac = submitNew(engine, DEVICES.mac, [runScript("macos-triage.sh")]);
    clock.advanceSeconds(60);
    expect(engine.getAction(linux)!.status).toBe("Succeeded");
    expect(engine.getAction(mac)!.status).toBe("Succeeded");
  });

  it("fails an unsigned PowerShell script unless the tenant allows unsigned scripts", () => {
    const strict = makeEngine();
    const id = submitNew(strict.engine, DEVICES.finance, [runScript("Unsigned-Tool.ps1")]);
    strict.clock.advanceSeconds(60);
    const action = strict.engine.getAction(id)!;
    expect(action.status).toBe("Failed");
    expect(action.commands[0]!.errors[0]).toContain("not signed");

    const lenient = makeEngine(
      {},
      scenarioWith((s) => (s.tenant.unsignedScriptExecution = true)),
    );
    const allowed = submitNew(lenient.engine, DEVICES.finance, [runScript("Unsigned-Tool.ps1")]);
    lenient.clock.advanceSeconds(60);
    expect(lenient.engine.getAction(allowed)!.status).toBe("Succeeded");
  });

  it("times a RunScript out after the limit: command Failed, action TimeOut", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [
      runScript("Long-Running.ps1"),
      getFile("C:\\Windows\\Temp\\invoice_2291.pdf.exe"),
    ]);
    clock.advanceSeconds(2 + 600);
    const action = engine.getAction(id)!;
    expect(action.status).toBe("TimeOut");
    expect(action.errorHResult).not.toBe(0);
    expect(action.commands[0]).toMatchObject({
      commandStatus: "Failed",
      errors: ["Script execution timed out after 10 minutes"],
    });
    expect(Date.parse(action.commands[0]!.endTime!) - Date.parse(action.commands[0]!.startTime!)).toBe(
      600_000,
    );
    expect(action.commands[1]).toMatchObject({ commandStatus: "Created", startTime: null, endTime: null });
  });

  it("is still running just before the RunScript limit", () => {
    const { engine, clock } = makeEngine({ runScriptTimeoutSeconds: 1200 });
    const id = submitNew(engine, DEVICES.finance, [runScript("Long-Running.ps1")]);
    clock.advanceSeconds(2 + 899);
    expect(engine.getAction(id)!.status).toBe("InProgress");
    clock.advanceSeconds(1);
    expect(engine.getAction(id)!.status).toBe("Succeeded");
  });

  it("divides every duration by the time scale", () => {
    const { engine, clock } = makeEngine({ timeScale: 600 });
    const id = submitNew(engine, DEVICES.finance, [runScript("Long-Running.ps1")]);
    clock.advance(999);
    expect(engine.getAction(id)!.status).toBe("InProgress");
    clock.advance(5); // 2 s pickup + 600 s limit = 1.0033 s at 600x
    expect(engine.getAction(id)!.status).toBe("TimeOut");
  });
});

describe("ActionEngine: offline devices", () => {
  it("queues on a device that comes online later, then runs it", () => {
    const { engine, clock } = makeEngine();
    expect(engine.getMachine(DEVICES.laptop)!.healthStatus).toBe("Inactive");
    const id = submitNew(engine, DEVICES.laptop, [runScript("Get-ProcessList.ps1")]);
    expect(engine.activeSessionCount()).toBe(1);
    clock.advanceSeconds(91);
    expect(engine.getAction(id)!.status).toBe("Pending");
    clock.advanceSeconds(1); // online at 90 s, picked up 2 s later
    expect(engine.getAction(id)!.status).toBe("InProgress");
    expect(engine.getMachine(DEVICES.laptop)!.healthStatus).toBe("Active");
    clock.advanceSeconds(4);
    expect(engine.getAction(id)!.status).toBe("Succeeded");
  });

  it.each([
    ["classic, 3 days", OFFLINE_QUEUE_SECONDS.classic],
    ["extended, 2 hours", OFFLINE_QUEUE_SECONDS.extended],
  ])("times out a device that never comes online at the queue limit (%s)", (_, queueSeconds) => {
    const { engine, clock } = makeEngine({ offlineQueueSeconds: queueSeconds });
    const id = submitNew(engine, DEVICES.kiosk, [
      runScript("Get-ProcessList.ps1"),
      getFile("C:\\Windows\\Temp\\kiosk.log"),
    ]);
    clock.advance(queueSeconds * 1000 - 1);
    expect(engine.getAction(id)!.status).toBe("Pending");
    expect(engine.activeSessionCount()).toBe(1);
    clock.advance(1);
    const action = engine.getAction(id)!;
    expect(action.status).toBe("TimeOut");
    expect(action.errorHResult).not.toBe(0);
    expect(action.lastUpdateDateTimeUtc).not.toBe(action.creationDateTimeUtc);
    for (const command of action.commands) {
      expect(command).toMatchObject({ commandStatus: "Created", startTime: null, endTime: null, errors: [] });
    }
    expect(engine.activeSessionCount()).toBe(0);
  });

  it("times out when the device comes online only after the queue limit", () => {
    const { engine, clock } = makeEngine({ offlineQueueSeconds: 60 });
    const id = submitNew(engine, DEVICES.laptop, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(60);
    expect(engine.getAction(id)!.status).toBe("TimeOut");
    clock.advanceSeconds(600);
    expect(engine.getAction(id)!.status).toBe("TimeOut");
  });

  it("scales the queue limit too", () => {
    const { engine, clock } = makeEngine({ timeScale: 6000 });
    const id = submitNew(engine, DEVICES.kiosk, [runScript("Get-ProcessList.ps1")]);
    clock.advance((OFFLINE_QUEUE_SECONDS.classic * 1000) / 6000);
    expect(engine.getAction(id)!.status).toBe("TimeOut");
  });
});

describe("ActionEngine: submit errors, in order", () => {
  it("checks the body before the machine", () => {
    const { engine } = makeEngine();
    const outcome = engine.submitLiveResponse("0".repeat(40), { commands: [] }, REQUESTOR);
    expect(outcome).toMatchObject({ kind: "error", error: { status: 400, code: "InvalidRequestBody" } });
  });

  it("answers an unknown machine with 404 ResourceNotFound", () => {
    const { engine } = makeEngine();
    const id = "0123456789abcdef0123456789abcdef01234567";
    expect(engine.submitLiveResponse(id, body([runScript("Get-ProcessList.ps1")]), REQUESTOR)).toEqual({
      kind: "error",
      error: { status: 404, code: "ResourceNotFound", message: `Machine ${id} was not found` },
    });
  });

  it("matches machine ids without regard to case and stores them lower-case", () => {
    const { engine } = makeEngine();
    const outcome = engine.submitLiveResponse(
      DEVICES.finance.toUpperCase(),
      body([runScript("Get-ProcessList.ps1")]),
      REQUESTOR,
    );
    expect(outcome.kind === "created" && outcome.action.machineId).toBe(DEVICES.finance);
    expect(engine.getMachine(DEVICES.finance.toUpperCase())!.id).toBe(DEVICES.finance);
  });

  it("answers 403 DisabledFeature when live response is off for the tenant", () => {
    const { engine } = makeEngine(
      {},
      scenarioWith((s) => (s.tenant.liveResponseEnabled = false)),
    );
    const outcome = engine.submitLiveResponse(
      DEVICES.finance,
      body([runScript("Get-ProcessList.ps1")]),
      REQUESTOR,
    );
    expect(outcome).toMatchObject({ kind: "error", error: { status: 403, code: "DisabledFeature" } });
  });

  it("rejects an unknown library file at submit by default", () => {
    const { engine } = makeEngine();
    for (const command of [runScript("Nope.ps1"), putFile("nope.exe")]) {
      const outcome = engine.submitLiveResponse(DEVICES.finance, body([command]), REQUESTOR);
      expect(outcome).toMatchObject({ kind: "error", error: { status: 404, code: "ResourceNotFound" } });
      expect(outcome.kind === "error" && outcome.error.message).toMatch(
        /nope\.(ps1|exe) was not found in the live response library/i,
      );
    }
    expect(engine.listActions()).toEqual([]);
  });

  it("fails the command instead when configured to", () => {
    const { engine, clock } = makeEngine({ unknownLibraryFile: "fail" });
    const script = submitNew(engine, DEVICES.finance, [runScript("Nope.ps1")]);
    const put = submitNew(engine, DEVICES.hr, [putFile("nope.exe"), runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(60);
    expect(engine.getAction(script)!.commands[0]!.errors[0]).toContain(
      "was not found in the live response library",
    );
    const putAction = engine.getAction(put)!;
    expect(putAction.status).toBe("Failed");
    expect(putAction.commands[0]!.errors[0]).toContain(
      "'nope.exe' was not found in the live response library",
    );
    expect(putAction.commands[1]!.commandStatus).toBe("Created");
  });

  it("allows one active live response per device: 400 ActiveRequestAlreadyExists", () => {
    const { engine, clock } = makeEngine();
    submitNew(engine, DEVICES.finance, [runScript("Get-Autoruns.ps1")]);
    clock.advanceSeconds(1);
    const outcome = engine.submitLiveResponse(
      DEVICES.finance,
      body([runScript("Get-ProcessList.ps1")]),
      REQUESTOR,
    );
    expect(outcome).toEqual({
      kind: "error",
      error: { status: 400, code: "ActiveRequestAlreadyExists", message: "Action is already in progress" },
    });
    // Other devices are not blocked; the device is free again once the action is final.
    submitNew(engine, DEVICES.hr, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(60);
    submitNew(engine, DEVICES.finance, [runScript("Get-ProcessList.ps1")]);
  });
});

describe("ActionEngine: identical requests merge (reference §9.16)", () => {
  it("returns the active action for an identical request within the window, whatever the comment", () => {
    const { engine, clock } = makeEngine({ mergeIdenticalRequests: true });
    const id = submitNew(engine, DEVICES.finance, [runScript("Long-Running.ps1")], "first");
    clock.advanceSeconds(30);
    const outcome = engine.submitLiveResponse(
      DEVICES.finance,
      body([runScript("Long-Running.ps1")], "second"),
      REQUESTOR,
    );
    expect(outcome.kind).toBe("merged");
    expect(outcome.kind === "merged" && outcome.action.id).toBe(id);
    expect(outcome.kind === "merged" && outcome.action.requestorComment).toBe("first");
    expect(engine.listActions()).toHaveLength(1);
  });

  it("does not merge after the window, or different commands", () => {
    const { engine, clock } = makeEngine({ mergeIdenticalRequests: true });
    submitNew(engine, DEVICES.finance, [runScript("Long-Running.ps1")]);
    clock.advanceSeconds(5);
    expect(
      engine.submitLiveResponse(DEVICES.finance, body([runScript("Get-Autoruns.ps1")]), REQUESTOR),
    ).toMatchObject({
      kind: "error",
      error: { code: "ActiveRequestAlreadyExists" },
    });
    clock.advanceSeconds(26);
    expect(
      engine.submitLiveResponse(DEVICES.finance, body([runScript("Long-Running.ps1")]), REQUESTOR),
    ).toMatchObject({
      kind: "error",
      error: { code: "ActiveRequestAlreadyExists" },
    });
  });

  it("does not merge when turned off", () => {
    const { engine } = makeEngine({ mergeIdenticalRequests: false });
    submitNew(engine, DEVICES.finance, [runScript("Get-Autoruns.ps1")]);
    expect(
      engine.submitLiveResponse(DEVICES.finance, body([runScript("Get-Autoruns.ps1")]), REQUESTOR),
    ).toMatchObject({
      kind: "error",
      error: { code: "ActiveRequestAlreadyExists" },
    });
  });

  it("never merges into a final action", () => {
    const { engine, clock } = makeEngine({ mergeIdenticalRequests: true });
    const first = submitNew(engine, DEVICES.finance, [runScript("Get-NetConnections.ps1")]);
    clock.advanceSeconds(10);
    const second = submitNew(engine, DEVICES.finance, [runScript("Get-NetConnections.ps1")]);
    expect(second).not.toBe(first);
  });
});

describe("ActionEngine: cancel", () => {
  it("cancels a Pending action and records who, why and when", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.kiosk, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(30);
    const outcome = engine.cancelAction(id, { Comment: "device retired" }, "analyst-app");
    expect(outcome.kind).toBe("ok");
    if (outcome.kind !== "ok") return;
    expect(outcome.action).toMatchObject({
      status: "Cancelled",
      cancellationRequestor: "analyst-app",
      cancellationComment: "device retired",
      errorHResult: 0,
    });
    expect(outcome.action.cancellationDateTimeUtc).toMatch(ACTION_TIME);
    expect(outcome.action.lastUpdateDateTimeUtc).toBe(outcome.action.cancellationDateTimeUtc);
    expect(engine.activeSessionCount()).toBe(0);
    clock.advanceSeconds(OFFLINE_QUEUE_SECONDS.classic);
    expect(engine.getAction(id)).toEqual(outcome.action);
  });

  it("cancels an InProgress action and leaves the commands as they were", () => {
    const { engine, clock } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [
      putFile("procdump64.exe"),
      runScript("Get-Autoruns.ps1"),
      getFile("C:\\Windows\\Temp\\invoice_2291.pdf.exe"),
    ]);
    clock.advanceSeconds(2 + 5); // PutFile done after ~1 s, Get-Autoruns (12 s) running
    const outcome = engine.cancelAction(id, { Comment: "wrong device" }, REQUESTOR);
    expect(outcome.kind).toBe("ok");
    clock.advanceSeconds(120);
    const action = engine.getAction(id)!;
    expect(action.status).toBe("Cancelled");
    expect(action.commands[0]!.commandStatus).toBe("Completed");
    expect(action.commands[1]).toMatchObject({ commandStatus: "Created", endTime: null });
    expect(action.commands[1]!.startTime).toMatch(COMMAND_TIME);
    expect(action.commands[2]).toMatchObject({ commandStatus: "Created", startTime: null, endTime: null });
  });

  it("refuses a final action with 400 BadRequest, and a second cancel", () => {
    const { engine, clock } = makeEngine();
    const done = submitNew(engine, DEVICES.finance, [runScript("Get-NetConnections.ps1")]);
    const queued = submitNew(engine, DEVICES.kiosk, [runScript("Get-NetConnections.ps1")]);
    clock.advanceSeconds(60);
    const outcome = engine.cancelAction(done, { Comment: "too late" }, REQUESTOR);
    expect(outcome).toMatchObject({ kind: "error", error: { status: 400, code: "BadRequest" } });
    expect(outcome.kind === "error" && outcome.error.message).toContain(
      "already in a final state (Succeeded)",
    );
    expect(engine.cancelAction(queued, { Comment: "once" }, REQUESTOR).kind).toBe("ok");
    expect(engine.cancelAction(queued, { Comment: "twice" }, REQUESTOR)).toMatchObject({
      kind: "error",
      error: { status: 400, code: "BadRequest" },
    });
  });

  it("answers an unknown action with 404 and a missing Comment with 400", () => {
    const { engine } = makeEngine();
    const unknown = "6f1c2a7e-0000-4000-8000-000000000000";
    expect(engine.cancelAction(unknown, { Comment: "x" }, REQUESTOR)).toEqual({
      kind: "error",
      error: { status: 404, code: "ResourceNotFound", message: `Action ${unknown} was not found` },
    });
    const id = submitNew(engine, DEVICES.kiosk, [runScript("Get-ProcessList.ps1")]);
    expect(engine.cancelAction(id, {}, REQUESTOR)).toMatchObject({
      kind: "error",
      error: { status: 400, code: "MissingRequiredParameter" },
    });
    expect(engine.getAction(id)!.status).toBe("Pending");
  });
});

describe("ActionEngine: sessions", () => {
  it("counts Pending and InProgress actions, queued ones included, and remembers the peak", () => {
    const { engine, clock } = makeEngine();
    expect(engine.activeSessionCount()).toBe(0);
    submitNew(engine, DEVICES.kiosk, [runScript("Get-ProcessList.ps1")]);
    submitNew(engine, DEVICES.finance, [runScript("Get-NetConnections.ps1")]);
    submitNew(engine, DEVICES.dc, [runScript("Get-ProcessList.ps1")]);
    expect(engine.activeSessionCount()).toBe(3);
    expect(engine.maxActiveSessions()).toBe(3);
    clock.advanceSeconds(60);
    expect(engine.activeSessionCount()).toBe(1);
    submitNew(engine, DEVICES.hr, [runScript("Get-ProcessList.ps1")]);
    expect(engine.activeSessionCount()).toBe(2);
    expect(engine.maxActiveSessions()).toBe(3);
  });

  it("starts over on reset", () => {
    const { engine, clock } = makeEngine();
    submitNew(engine, DEVICES.kiosk, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(120);
    expect(engine.getMachine(DEVICES.laptop)!.healthStatus).toBe("Active");
    engine.reset();
    expect(engine.listActions()).toEqual([]);
    expect(engine.activeSessionCount()).toBe(0);
    expect(engine.maxActiveSessions()).toBe(0);
    // The device schedule restarts from the reset: the laptop is offline again for 90 s.
    expect(engine.getMachine(DEVICES.laptop)!.healthStatus).toBe("Inactive");
  });
});

describe("ActionEngine: reading actions", () => {
  it("lists newest first and finds actions by id without regard to case", () => {
    const { engine, clock } = makeEngine();
    const first = submitNew(engine, DEVICES.finance, [runScript("Get-ProcessList.ps1")]);
    const second = submitNew(engine, DEVICES.hr, [runScript("Get-ProcessList.ps1")]);
    clock.advanceSeconds(1);
    const third = submitNew(engine, DEVICES.dc, [runScript("Get-ProcessList.ps1")]);
    expect(engine.listActions().map((a) => a.id)).toEqual([third, second, first]);
    expect(engine.getAction(first.toUpperCase())!.id).toBe(first);
    expect(engine.getAction("6f1c2a7e-0000-4000-8000-000000000000")).toBeUndefined();
  });

  it("hands out copies that callers cannot use to change the engine", () => {
    const { engine } = makeEngine();
    const id = submitNew(engine, DEVICES.finance, [runScript("Get-ProcessList.ps1")]);
    const copy = engine.getAction(id)!;
    copy.commands[0]!.command.params[0]!.value = "changed.ps1";
    expect(engine.getAction(id)!.commands[0]!.command.params[0]!.value).toBe("Get-ProcessList.ps1");
  });
});

describe("ActionEngine: machines", () => {
  it("lists every device as a Machine entity in the documented field order", () => {
    const { engine } = makeEngine();
    const machines = engine.listMachines();
    expect(machines).toHaveLength(defaultScenario().devices.length);
    for (const machine of machines) {
      expect(MachineEntitySchema.strict().parse(machine)).toEqual(machine);
      expect(machine.firstSeen).toMatch(ACTION_TIME);
      expect(machine.lastSeen).toMatch(ACTION_TIME);
    }
    expect(Object.keys(machines[0]!).slice(0, 5)).toEqual([
      "id",
      "computerDnsName",
      "firstSeen",
      "lastSeen",
      "osPlatform",
    ]);
    expect(engine.getMachine(DEVICES.finance)).toMatchObject({
      computerDnsName: "fin-ws-0142.contoso.com",
      osPlatform: "Windows11",
      healthStatus: "Active",
      machineTags: ["Finance", "VIP"],
      rbacGroupName: "Finance Workstations",
    });
    expect(engine.getMachine("0".repeat(40))).toBeUndefined();
  });

  it("keeps lastSeen current while a device is online, and reports offline devices Inactive", () => {
    const { engine, clock } = makeEngine();
    const before = engine.getMachine(DEVICES.finance)!.lastSeen;
    clock.advanceSeconds(300);
    const after = engine.getMachine(DEVICES.finance)!.lastSeen;
    expect(Date.parse(after) - Date.parse(before)).toBe(300_000);
    const kiosk = engine.getMachine(DEVICES.kiosk)!;
    expect(kiosk.healthStatus).toBe("Inactive");
    expect(Date.parse(kiosk.lastSeen)).toBeLessThan(clock.now() - 7 * 24 * 3600 * 1000);
  });
});

describe("ActionEngine: library", () => {
  it("lists library files with the SHA-256 of their content", () => {
    const { engine } = makeEngine();
    const files = engine.listLibraryFiles();
    const scenario = defaultScenario();
    expect(files.map((f) => f.fileName)).toEqual(scenario.library.map((f) => f.fileName));
    for (const [i, file] of files.entries()) {
      expect(LibraryFileEntitySchema.strict().parse(file)).toEqual(file);
      const content = scenario.library[i]!.content;
      expect(file.sha256).toBe(createHash("sha256").update(content, "utf8").digest("hex"));
    }
    const recent = files.find((f) => f.fileName === "Get-RecentFiles.ps1")!;
    expect(Object.keys(recent)).toEqual([
      "fileName",
      "sha256",
      "description",
      "creationTime",
      "lastUpdatedTime",
      "createdBy",
      "hasParameters",
      "parametersDescription",
    ]);
    expect(recent.parametersDescription).toBe("-Days <n>");
    expect("parametersDescription" in files.find((f) => f.fileName === "Get-ProcessList.ps1")!).toBe(false);
  });

  it("uploads, refuses a duplicate without override, replaces with it, and deletes", () => {
    const { engine, clock } = makeEngine();
    const signed = Buffer.from(
      "Get-Date\n# SIG # Begin signature block\n# abc\n# SIG # End signature block\n",
    );
    const added = engine.uploadLibraryFile(
      { fileName: "Get-Date.ps1", content: signed },
      false,
      "secops-app",
    );
    expect(added).toMatchObject({
      kind: "ok",
      file: { fileName: "Get-Date.ps1", createdBy: "secops-app", hasParameters: false },
    });
    expect(
      engine.uploadLibraryFile({ fileName: "Get-Date.ps1", content: signed }, false, "secops-app"),
    ).toMatchObject({
      kind: "error",
      error: { status: 400, code: "BadRequest" },
    });
    clock.advanceSeconds(10);
    const replaced = engine.uploadLibraryFile(
      { fileName: "Get-Date.ps1", content: Buffer.from("Get-Date -Format o\n"), hasParameters: true },
      true,
      "other-app",
    );
    expect(replaced.kind).toBe("ok");
    if (replaced.kind !== "ok" || added.kind !== "ok") return;
    expect(replaced.file.creationTime).toBe(added.file.creationTime);
    expect(replaced.file.lastUpdatedTime).not.toBe(added.file.lastUpdatedTime);
    expect(replaced.file.createdBy).toBe("secops-app");
    expect(replaced.file.sha256).not.toBe(added.file.sha256);
    expect(replaced.file.parametersDescription).toBe("");

    // The replacement has no signature block: it now fails as unsigned.
    const id = submitNew(engine, DEVICES.finance, [runScript("Get-Date.ps1")]);
    clock.advanceSeconds(60);
    expect(engine.getAction(id)!.commands[0]!.errors[0]).toContain("not signed");

    expect(engine.deleteLibraryFile("Get-Date.ps1")).toEqual({ kind: "ok" });
    expect(engine.deleteLibraryFile("Get-Date.ps1")).toMatchObject({ kind: "error", error: { status: 404 } });
    expect(
      engine.submitLiveResponse(DEVICES.finance, body([runScript("Get-Date.ps1")]), REQUESTOR).kind,
    ).toBe("error");
  });

  it("refuses a file name the library does not allow", () => {
    const { engine } = makeEngine();
    expect(
      engine.uploadLibraryFile({ fileName: "bad name.ps1", content: Buffer.from("x") }, false, "a"),
    ).toMatchObject({
      kind: "error",
      error: { status: 400, code: "InvalidInput" },
    });
  });
});
