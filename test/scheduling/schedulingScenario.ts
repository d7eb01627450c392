import { parseScenario, type Scenario } from "../../src/simulator/index.js";
import { generatedDeviceId, scenarioWith } from "../helpers/simulatorHarness.js";

/** A library script that runs as long as the scenario says: actions that hold their session a while. */
export const HOLDING_SCRIPT = "Hold-Session.ps1";

export interface SchedulingScenarioOptions {
  /** Generated online devices: `onlineDevice(0…online-1)`. */
  online?: number;
  /** Generated devices that never come online: `offlineDevice(0…offline-1)`; their actions stay Pending. */
  offline?: number;
  /** Real-world seconds HOLDING_SCRIPT runs (default 3, the simulator's usual). */
  scriptSeconds?: number;
}

/** Offline devices are numbered after every online one a scenario here may have. */
const OFFLINE_BASE = 0x1000;

export function onlineDevice(index: number): string {
  return generatedDeviceId(index);
}

export function offlineDevice(index: number): string {
  return generatedDeviceId(OFFLINE_BASE + index);
}

/** The default scenario plus generated online and offline devices and HOLDING_SCRIPT. */
export function schedulingScenario(options: SchedulingScenarioOptions): Scenario {
  const base = scenarioWith({ devices: options.online ?? 0 });
  const offline = Array.from({ length: options.offline ?? 0 }, (_, i) => ({
    id: offlineDevice(i),
    computerDnsName: `offline-ws-${String(i).padStart(4, "0")}.contoso.com`,
    osPlatform: "Windows11",
    availability: "offline" as const,
  }));
  return parseScenario({
    ...base,
    devices: [...base.devices, ...offline],
    library: [
      ...base.library,
      {
        fileName: HOLDING_SCRIPT,
        description: "Test: runs for a set time",
        content: "Start-Sleep -Seconds 1\n",
        behaviour: { output: "held", durationSeconds: options.scriptSeconds ?? 3 },
      },
    ],
  });
}
