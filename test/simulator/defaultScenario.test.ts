import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { defaultScenario } from "../../src/simulator/defaultScenario.js";
import { loadScenarioFile } from "../../src/simulator/scenario.js";
import { DEVICES, makeEngine, runScript, submitNew } from "./engineHarness.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/scenario.demo.json", import.meta.url));

describe("the default demo scenario", () => {
  it("is valid and equal to examples/scenario.demo.json", async () => {
    const fromFile = await loadScenarioFile(EXAMPLE);
    expect(fromFile).toEqual(defaultScenario());
  });

  it("keeps the example file free of schema defaults, so users edit only what matters", async () => {
    const raw = JSON.parse(await readFile(EXAMPLE, "utf8")) as { devices: Record<string, unknown>[] };
    expect(raw.devices[0]).not.toHaveProperty("onboardingStatus");
  });

  it("is a believable tenant: one demo app, about ten devices with unique ids, every platform", () => {
    const scenario = defaultScenario();
    expect(scenario.apps).toHaveLength(1);
    const app = scenario.apps[0]!;
    expect(app.displayName).toBe("mde-live-response-mcp (demo)");
    expect(app.roles).toEqual(["Machine.LiveResponse", "Machine.Read.All", "Library.Manage"]);
    expect(app.clientSecret!.length).toBeGreaterThanOrEqual(32);
    expect(scenario.tenant.unsignedScriptExecution).toBe(false);

    const ids = scenario.devices.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThanOrEqual(9);
    expect(new Set(scenario.devices.map((d) => d.osPlatform))).toEqual(
      new Set(["Windows11", "Windows10", "WindowsServer2022", "WindowsServer2019", "Linux", "macOS"]),
    );
    expect(scenario.devices.filter((d) => d.availability === "offline")).toHaveLength(1);
    expect(scenario.devices.filter((d) => typeof d.availability === "object")).toEqual([
      expect.objectContaining({ availability: { onlineAfterSeconds: 90 } }),
    ]);
    for (const tag of ["Finance", "Tier0", "VIP", "Linux-Prod"]) {
      expect(scenario.devices.some((d) => d.machineTags.includes(tag))).toBe(true);
    }
  });

  it("signs every demo PowerShell script except the one that shows the failure", () => {
    const unsigned = defaultScenario()
      .library.filter((f) => f.fileName.endsWith(".ps1") && !f.signed)
      .map((f) => f.fileName);
    expect(unsigned).toEqual(["Unsigned-Tool.ps1"]);
  });

  it.each([
    ["Get-ProcessList.ps1", DEVICES.finance, "Succeeded"],
    ["Get-NetConnections.ps1", DEVICES.finance, "Succeeded"],
    ["Get-Autoruns.ps1", DEVICES.finance, "Succeeded"],
    ["Get-RecentFiles.ps1", DEVICES.finance, "Succeeded"],
    ["Collect-EventLogs.ps1", DEVICES.dc, "Succeeded"],
    ["linux-triage.sh", DEVICES.web, "Succeeded"],
    ["macos-triage.sh", DEVICES.mac, "Succeeded"],
    ["Failing-Script.ps1", DEVICES.finance, "Failed"],
    ["Exit-NonZero.ps1", DEVICES.finance, "Succeeded"],
    ["Long-Running.ps1", DEVICES.finance, "TimeOut"],
    ["Big-Output.ps1", DEVICES.finance, "Succeeded"],
    ["Unsigned-Tool.ps1", DEVICES.finance, "Failed"],
  ])("runs %s to %s", (script, device, status) => {
    const { engine, clock } = makeEngine({ timeScale: 600 });
    const id = submitNew(engine, device, [runScript(script)]);
    clock.advanceSeconds(2);
    expect(engine.getAction(id)!.status).toBe(status);
  });

  it("has the file Collect-EventLogs.ps1 says to collect next", () => {
    const { engine, clock } = makeEngine({ timeScale: 600 });
    const id = submitNew(engine, DEVICES.dc, [
      runScript("Collect-EventLogs.ps1"),
      { type: "GetFile", params: [{ key: "Path", value: "C:\\Windows\\Temp\\IR\\EventLogs.zip" }] },
    ]);
    clock.advanceSeconds(2);
    expect(engine.getAction(id)!.status).toBe("Succeeded");
  });
});
