import type { RunningSimulator } from "../../src/simulator/index.js";

/** What the simulator holds for one device: every action created there, and the request ids tagged in each. */
export interface DeviceActions {
  machineId: string;
  actions: Array<{ id: string; status: string; requestIds: string[] }>;
}

/** Read with this file's own pattern, not the server's parser: the tag format is the documented one. */
const TAG = /\[mcp:(req_[0-9a-f]{12})\]/g;

/** Every action the simulator created on each of `machineIds`, read from its engine (no API call). */
export function actionsOnDevices(sim: RunningSimulator, machineIds: readonly string[]): DeviceActions[] {
  const all = sim.engine.listActions();
  return machineIds.map((machineId) => ({
    machineId,
    actions: all
      .filter((a) => a.machineId === machineId.toLowerCase())
      .map((a) => ({
        id: a.id,
        status: a.status,
        requestIds: [...(a.requestorComment ?? "").matchAll(TAG)].map((m) => m[1]!),
      })),
  }));
}

/** The simulator's actions tagged with `requestId`, on any device. */
export function actionsTagged(sim: RunningSimulator, requestId: string): string[] {
  return sim.engine
    .listActions()
    .filter((a) => (a.requestorComment ?? "").includes(`[mcp:${requestId}]`))
    .map((a) => a.id);
}
