import { scaleMs } from "../config/time.js";
import { paramValue, type LiveResponseCommand } from "./commandValidation.js";
import { deviceFileSize, findDeviceFile, getFileProblem } from "./deviceFiles.js";
import type { LibraryRecord } from "./libraryFileEntity.js";
import { HRESULT_FAILED, HRESULT_TIMEOUT, type ActionStatus } from "./machineActionEntity.js";
import type { Device, DeviceFile, ScriptBehaviour } from "./scenario.js";
import { planScriptRun } from "./scriptRun.js";

/**
 * The whole life of an action, decided the moment it is created: when the device picks it up, when
 * each command starts and ends and how, and how the action ends. Everything it depends on (device
 * schedule, library, behaviours) is fixed by then, so the engine needs no timers: what the action
 * looks like at any instant follows from this plan (see actionView.ts).
 */

/** What a completed command produced, kept so the result is generated only when downloaded. */
export type CommandResult =
  | { kind: "script"; scriptName: string; args: string | undefined; behaviour: ScriptBehaviour }
  | { kind: "file"; file: DeviceFile }
  | { kind: "none" };

export interface PlannedCommand {
  index: number;
  startMs: number;
  endMs: number;
  outcome: "Completed" | "Failed";
  errors: string[];
  result: CommandResult;
}

export interface ActionPlan {
  /** When the action turns InProgress; undefined when the device never picks it up. */
  pickupMs: number | undefined;
  /** Only the commands that run: after the first failure the rest never start. */
  commands: PlannedCommand[];
  final: {
    atMs: number;
    status: Exclude<ActionStatus, "Pending" | "InProgress" | "Cancelled">;
    errorHResult: number;
  };
}

export interface PlanSettings {
  timeScale: number;
  runScriptTimeoutSeconds: number;
  offlineQueueSeconds: number;
}

export interface PlanInput {
  createdMs: number;
  device: Device;
  onlineAtMs: number;
  commands: readonly LiveResponseCommand[];
  library: (fileName: string) => LibraryRecord | undefined;
  unsignedScriptExecution: boolean;
  settings: PlanSettings;
}

/** Transfer speed used to turn file sizes into command durations. */
const BYTES_PER_SECOND = 10 * 1024 * 1024;
const PUT_FILE_SECONDS = 1;
const GET_FILE_SECONDS = 2;
/** How long a command takes to fail for a reason found before it does any work. */
const QUICK_FAILURE_SECONDS = 1;

export function timeoutMessage(seconds: number): string {
  const span =
    seconds % 60 === 0 ? `${seconds / 60} minute${seconds === 60 ? "" : "s"}` : `${seconds} seconds`;
  return `Script execution timed out after ${span}`;
}

interface Step {
  seconds: number;
  outcome: "Completed" | "Failed" | "TimedOut";
  errors: string[];
  result: CommandResult;
}

function failure(error: string, seconds = QUICK_FAILURE_SECONDS): Step {
  return { seconds, outcome: "Failed", errors: [error], result: { kind: "none" } };
}

function putFileStep(command: LiveResponseCommand, input: PlanInput): Step {
  const fileName = paramValue(command, "FileName")!;
  const file = input.library(fileName);
  if (!file) return failure(`File '${fileName}' was not found in the live response library`);
  return {
    seconds: PUT_FILE_SECONDS + file.content.length / BYTES_PER_SECOND,
    outcome: "Completed",
    errors: [],
    result: { kind: "none" },
  };
}

function runScriptStep(command: LiveResponseCommand, input: PlanInput): Step {
  const scriptName = paramValue(command, "ScriptName")!;
  const plan = planScriptRun(
    input.library(scriptName),
    scriptName,
    input.device,
    input.unsignedScriptExecution,
  );
  if (!plan.ok) return failure(plan.error);
  const { behaviour } = plan;
  const timeout = input.settings.runScriptTimeoutSeconds;
  if (behaviour.durationSeconds > timeout) {
    return {
      seconds: timeout,
      outcome: "TimedOut",
      errors: [timeoutMessage(timeout)],
      result: { kind: "none" },
    };
  }
  if (behaviour.outcome === "failed") return failure(behaviour.failureMessage, behaviour.durationSeconds);
  return {
    seconds: behaviour.durationSeconds,
    outcome: "Completed",
    errors: [],
    result: { kind: "script", scriptName, args: paramValue(command, "Args"), behaviour },
  };
}

function getFileStep(command: LiveResponseCommand, input: PlanInput): Step {
  const path = paramValue(command, "Path")!;
  const file = findDeviceFile(input.device, path);
  if (!file) return failure(`File '${path}' was not found on the device`, GET_FILE_SECONDS);
  const problem = getFileProblem(file, path);
  if (problem) return failure(problem, GET_FILE_SECONDS);
  return {
    seconds: GET_FILE_SECONDS + deviceFileSize(file) / BYTES_PER_SECOND,
    outcome: "Completed",
    errors: [],
    result: { kind: "file", file },
  };
}

function step(command: LiveResponseCommand, input: PlanInput): Step {
  switch (command.type) {
    case "PutFile":
      return putFileStep(command, input);
    case "RunScript":
      return runScriptStep(command, input);
    case "GetFile":
      return getFileStep(command, input);
  }
}

export function planAction(input: PlanInput): ActionPlan {
  const ms = (seconds: number): number => scaleMs(seconds * 1000, input.settings.timeScale);
  const queueEndMs = input.createdMs + ms(input.settings.offlineQueueSeconds);
  if (input.onlineAtMs >= queueEndMs) {
    return {
      pickupMs: undefined,
      commands: [],
      final: { atMs: queueEndMs, status: "TimeOut", errorHResult: HRESULT_TIMEOUT },
    };
  }
  const pickupMs = Math.max(input.createdMs, input.onlineAtMs) + ms(input.device.pickupDelaySeconds);
  const commands: PlannedCommand[] = [];
  let cursor = pickupMs;
  for (const [index, command] of input.commands.entries()) {
    const s = step(command, input);
    const endMs = cursor + ms(s.seconds);
    const outcome = s.outcome === "Completed" ? "Completed" : "Failed";
    commands.push({ index, startMs: cursor, endMs, outcome, errors: s.errors, result: s.result });
    if (s.outcome === "TimedOut") {
      return { pickupMs, commands, final: { atMs: endMs, status: "TimeOut", errorHResult: HRESULT_TIMEOUT } };
    }
    if (s.outcome === "Failed") {
      return { pickupMs, commands, final: { atMs: endMs, status: "Failed", errorHResult: HRESULT_FAILED } };
    }
    cursor = endMs;
  }
  return { pickupMs, commands, final: { atMs: cursor, status: "Succeeded", errorHResult: 0 } };
}
