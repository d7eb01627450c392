import { processListFiller, seedFrom } from "./deterministicFiller.js";
import type { LibraryRecord } from "./libraryFileEntity.js";
import { ScriptBehaviourSchema, type Device, type ScriptBehaviour } from "./scenario.js";

/**
 * How a RunScript behaves on one device: whether the device can run the script at all (language,
 * signature), which behaviour the scenario gives it there, and the transcript it produces.
 */

export type ScriptLanguage = "powershell" | "bash";

export function scriptLanguage(fileName: string): ScriptLanguage | undefined {
  const lower = fileName.toLowerCase();
  if (lower.endsWith(".ps1")) return "powershell";
  if (lower.endsWith(".sh")) return "bash";
  return undefined;
}

export function isWindowsPlatform(osPlatform: string): boolean {
  return osPlatform.toLowerCase().startsWith("windows");
}

export type ScriptRunPlan = { ok: true; behaviour: ScriptBehaviour } | { ok: false; error: string };

const DEFAULT_BEHAVIOUR = ScriptBehaviourSchema.parse({});

/**
 * Decides, when the command runs, whether the script runs and how. The reasons it does not are the
 * command's errors[] text, written so a person reading the action knows what to change.
 */
export function planScriptRun(
  script: LibraryRecord | undefined,
  scriptName: string,
  device: Device,
  unsignedScriptExecution: boolean,
): ScriptRunPlan {
  if (!script) {
    return { ok: false, error: `Script '${scriptName}' was not found in the live response library` };
  }
  const language = scriptLanguage(script.fileName);
  const windows = isWindowsPlatform(device.osPlatform);
  if (!language) {
    return {
      ok: false,
      error: `'${script.fileName}' is not a script: RunScript runs PowerShell (.ps1) scripts on Windows and Bash (.sh) scripts on Linux and macOS`,
    };
  }
  if (language === "powershell" && !windows) {
    return {
      ok: false,
      error: `Script '${script.fileName}' cannot run on ${device.osPlatform}: PowerShell (.ps1) scripts run only on Windows devices`,
    };
  }
  if (language === "bash" && windows) {
    return {
      ok: false,
      error: `Script '${script.fileName}' cannot run on ${device.osPlatform}: Bash (.sh) scripts run only on Linux and macOS devices`,
    };
  }
  if (language === "powershell" && !script.signed && !unsignedScriptExecution) {
    return {
      ok: false,
      error: `Script '${script.fileName}' is not signed, and unsigned script execution is turned off for this tenant (Advanced features: Live response unsigned script execution)`,
    };
  }
  const behaviour = script.behaviourByPlatform[device.osPlatform] ?? script.behaviour ?? DEFAULT_BEHAVIOUR;
  return { ok: true, behaviour };
}

export const TRANSCRIPT_FOLDER =
  "C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\Temp\\PSScriptOutputs";

/** A GUID derived from the seed, so a transcript's file name is stable across downloads. */
function transcriptGuid(seed: string): string {
  const hex = [seedFrom(seed), seedFrom(`${seed}#1`), seedFrom(`${seed}#2`), seedFrom(`${seed}#3`)]
    .map((n) => n.toString(16).padStart(8, "0"))
    .join("")
    .toUpperCase();
  const variant = "89AB"[parseInt(hex.charAt(16), 16) % 4]!;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface ScriptRunContext {
  scriptName: string;
  args: string | undefined;
  device: Device;
  behaviour: ScriptBehaviour;
  /** Unique per action and command: seeds the transcript name and the filler. */
  seed: string;
}

export interface ScriptTranscript {
  output: string;
  errors: string;
  exitCode: number;
}

function fillPlaceholders(text: string, context: ScriptRunContext): string {
  const values: Record<string, string> = {
    args: context.args ?? "",
    computerDnsName: context.device.computerDnsName,
    machineId: context.device.id,
    scriptName: context.scriptName,
  };
  return text.replace(/\{(args|computerDnsName|machineId|scriptName)\}/g, (_, name: string) => values[name]!);
}

/**
 * The transcript of a completed RunScript. PowerShell output is wrapped like the reference sample:
 * the Start-Transcript header line first and NUL padding at the end.
 */
export function renderTranscript(context: ScriptRunContext): ScriptTranscript {
  const { behaviour } = context;
  const powershell = scriptLanguage(context.scriptName) === "powershell";
  let output = fillPlaceholders(behaviour.output, context);
  if (behaviour.extraOutputBytes > 0) {
    if (output !== "" && !output.endsWith("\n")) output += "\n";
    output += processListFiller(context.seed, behaviour.extraOutputBytes, powershell ? "windows" : "unix");
  }
  if (powershell && behaviour.transcriptHeader) {
    const header = `Transcript started, output file is ${TRANSCRIPT_FOLDER}\\PSScript_Transcript_{${transcriptGuid(context.seed)}}.txt`;
    output = `${header}\n${output}\u0000\u0000\u0000`;
  }
  return { output, errors: fillPlaceholders(behaviour.errors, context), exitCode: behaviour.exitCode };
}
