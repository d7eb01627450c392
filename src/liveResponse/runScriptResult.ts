import { RunScriptResultSchema } from "../defender/schemas.js";
import { cleanText } from "./cleanText.js";

/** What a RunScript transcript says, cleaned (see cleanText). */
export interface ParsedRunScriptResult {
  exitCode: number | null;
  output: string;
  errors: string;
}

/**
 * Reads the blob behind a RunScript result link: JSON `{script_name, exit_code, script_output,
 * script_errors}` (reference §3.4). Its content comes from the device, so anything else is tolerated:
 * a blob that is not a JSON object is all output with an unknown exit code, and a missing or
 * mistyped field reads as absent.
 */
export function parseRunScriptResult(blob: Uint8Array): ParsedRunScriptResult {
  const text = new TextDecoder().decode(blob);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed =
    json !== null && typeof json === "object" && !Array.isArray(json)
      ? RunScriptResultSchema.safeParse(json)
      : undefined;
  if (!parsed?.success) return { exitCode: null, output: cleanText(text), errors: "" };
  return {
    exitCode: parsed.data.exit_code,
    output: cleanText(parsed.data.script_output ?? ""),
    errors: cleanText(parsed.data.script_errors ?? ""),
  };
}
