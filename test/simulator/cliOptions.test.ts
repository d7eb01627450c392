import { describe, expect, it } from "vitest";
import {
  parseSimulatorFlags,
  simulatorOptionsFrom,
  SimulatorFlagsError,
} from "../../src/simulator/cliOptions.js";
import { startTestSimulator } from "../helpers/simulatorHarness.js";

describe("simulator command flags", () => {
  it("turns every open choice of the reference into startSimulator options", () => {
    const flags = parseSimulatorFlags([
      "--port=8443",
      "--max-sessions",
      "3",
      "--offline-queue-seconds",
      "7200",
      "--run-script-timeout-seconds",
      "120",
      "--merge-identical-requests",
      "--unknown-library-file",
      "fail",
      "--page-size",
      "50",
      "--profile",
      "extended",
    ]);
    expect(simulatorOptionsFrom(flags, { timeScale: 4 })).toEqual({
      port: 8443,
      host: "127.0.0.1",
      timeScale: 4,
      profile: "extended",
      maxSessions: 3,
      offlineQueueSeconds: 7200,
      runScriptTimeoutSeconds: 120,
      mergeIdenticalRequests: true,
      unknownLibraryFile: "fail",
      pageSize: 50,
    });
  });

  it("defaults to the strict readings: no merging, unknown library files rejected, documented page size", () => {
    expect(simulatorOptionsFrom(parseSimulatorFlags([]), { timeScale: 1 })).toMatchObject({
      port: 0,
      profile: "classic",
      mergeIdenticalRequests: false,
      unknownLibraryFile: "reject",
      pageSize: 10_000,
    });
  });

  it("reports every mistake at once, each naming its flag", () => {
    const error = (() => {
      try {
        parseSimulatorFlags(["--port", "x", "--max-sessions", "0", "--time-scale=-1", "--profile", "big"]);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SimulatorFlagsError);
    const message = (error as Error).message;
    for (const flag of ["--port", "--max-sessions", "--time-scale", "--profile"])
      expect(message).toContain(flag);
  });

  it("refuses an unknown flag", () => {
    expect(() => parseSimulatorFlags(["--sessions", "3"])).toThrow(SimulatorFlagsError);
  });

  it("the session cap a flag sets is the one the simulator enforces", async () => {
    const options = simulatorOptionsFrom(parseSimulatorFlags(["--max-sessions", "1"]), { timeScale: 600 });
    const t = await startTestSimulator({ ...options, port: 0 });
    try {
      const kiosk = "b63153e8bd6b82ee9f39c9d441678fcfc24fc2ee"; // offline: its action holds the session
      const body = {
        Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: "Get-ProcessList.ps1" }] }],
        Comment: "cap",
      };
      expect((await t.call("POST", `/api/machines/${kiosk}/runliveresponse`, { body })).status).toBe(201);
      const second = await t.call(
        "POST",
        "/api/machines/9d663375e3e46799a6657b0c0c74b873c9fcd069/runliveresponse",
        {
          body,
        },
      );
      expect(second.status).toBe(429);
    } finally {
      await t.close();
    }
  });
});
