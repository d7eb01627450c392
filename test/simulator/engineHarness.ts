import {
  ActionEngine,
  DEFAULT_ENGINE_SETTINGS,
  type EngineSettings,
} from "../../src/simulator/actionEngine.js";
import { defaultScenario } from "../../src/simulator/defaultScenario.js";
import type { Scenario } from "../../src/simulator/scenario.js";
import { ManualClock } from "../../src/simulator/simClock.js";

/** Devices of the demo tenant the engine tests drive. */
export const DEVICES = {
  finance: "9d663375e3e46799a6657b0c0c74b873c9fcd069", // Windows11, online, pickup 2 s
  hr: "2be8a43e061cff68020fca2c9ac134d5d0d20a1b", // Windows10, online
  laptop: "580f39c6c4ec0597bb63472fa144dbd885b2575a", // Windows11, online after 90 s
  kiosk: "b63153e8bd6b82ee9f39c9d441678fcfc24fc2ee", // Windows10, offline for good
  dc: "bc2f7802a52ee6df330a0a7b77cfdd9d03f5fb67", // WindowsServer2022, pickup 3 s
  web: "a56a03dba7798c5165b7859fbec5e9dcd0edf2da", // Linux
  mac: "27ee37e665ec24926496d6dd88e9b389455e104e", // macOS
} as const;

export const REQUESTOR = "mde-live-response-mcp (demo)";

type Command = { type: string; params: { key: string; value: string }[] };

export const runScript = (name: string, args?: string): Command => ({
  type: "RunScript",
  params: [{ key: "ScriptName", value: name }, ...(args === undefined ? [] : [{ key: "Args", value: args }])],
});
export const getFile = (path: string): Command => ({
  type: "GetFile",
  params: [{ key: "Path", value: path }],
});
export const putFile = (name: string): Command => ({
  type: "PutFile",
  params: [{ key: "FileName", value: name }],
});

export function body(commands: Command[], comment = "triage"): { Commands: Command[]; Comment: string } {
  return { Commands: commands, Comment: comment };
}

export function makeEngine(
  settings: Partial<EngineSettings> = {},
  scenario: Scenario = defaultScenario(),
): { engine: ActionEngine; clock: ManualClock } {
  const clock = new ManualClock();
  const engine = new ActionEngine(scenario, { ...DEFAULT_ENGINE_SETTINGS, ...settings }, clock);
  return { engine, clock };
}

/** Submits and insists on a new action: most tests are about what happens next. */
export function submitNew(
  engine: ActionEngine,
  machineId: string,
  commands: Command[],
  comment?: string,
): string {
  const outcome = engine.submitLiveResponse(machineId, body(commands, comment), REQUESTOR);
  if (outcome.kind !== "created") throw new Error(`expected a new action, got ${JSON.stringify(outcome)}`);
  return outcome.action.id;
}
