import type { LiveResponseCommand } from "./defenderClient.js";
import { InvalidInputError } from "./errors.js";

/**
 * The API's rules for a live response request, in one place, as pure checks: every caller can run
 * them before the first call of a batch, so a bad command costs no call from the submit budget.
 * Field names are the tool-facing ones (`commands[1].args`), so the message points at what to fix.
 */

/** The API requires this order within one request (reference §3.1). */
const COMMAND_ORDER: Record<LiveResponseCommand["type"], number> = { PutFile: 0, RunScript: 1, GetFile: 2 };

/** Characters the API refuses in RunScript `Args` (reference §3.1, §9.14). */
export const FORBIDDEN_ARGS_CHARACTERS = [";", "&", "|", "!", "$", "(", ")"] as const;

/** The forbidden characters found in `args`, each once, in the order of the list above. */
export function forbiddenArgsCharacters(args: string): string[] {
  return FORBIDDEN_ARGS_CHARACTERS.filter((c) => args.includes(c));
}

/** Script arguments as they go on the wire: absent when blank, since the API refuses an empty `Args`. */
export function effectiveArgs(args: string | undefined): string | undefined {
  return args === undefined || args.trim() === "" ? undefined : args;
}

function requireText(value: unknown, field: string, what: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidInputError(field, `${field} must be a non-empty string (${what})`);
  }
  return value;
}

export function assertComment(comment: unknown): string {
  if (typeof comment !== "string" || comment.trim().length === 0) {
    throw new InvalidInputError(
      "comment",
      "comment must be a non-empty string saying why the action is taken",
    );
  }
  return comment;
}

function assertScriptArgs(args: unknown, field: string): void {
  if (args === undefined) return;
  if (typeof args !== "string") {
    throw new InvalidInputError(field, `${field} must be a string (the script's arguments)`);
  }
  const found = forbiddenArgsCharacters(args);
  if (found.length > 0) {
    throw new InvalidInputError(
      field,
      `${field} contains ${found.map((c) => JSON.stringify(c)).join(", ")}: the live response API refuses script arguments with any of ${FORBIDDEN_ARGS_CHARACTERS.join(" ")}, so these arguments cannot be sent through live response. Pass values without them (for example split them into separate arguments), or hard-code them in the library script.`,
    );
  }
}

/**
 * Every rule a list of commands must follow: at least one, known types, each type's required
 * parameter, the PutFile → RunScript → GetFile order, and script arguments without the forbidden
 * characters. Throws InvalidInputError naming the first offending field.
 */
export function assertLiveResponseCommands(commands: unknown): asserts commands is LiveResponseCommand[] {
  if (!Array.isArray(commands) || commands.length === 0) {
    throw new InvalidInputError(
      "commands",
      "commands must be a non-empty list of RunScript, GetFile or PutFile commands",
    );
  }
  let previousOrder = 0;
  for (const [i, command] of (commands as Array<Partial<LiveResponseCommand> | null>).entries()) {
    const field = `commands[${i}]`;
    const type = command?.type;
    const order = type === undefined ? undefined : COMMAND_ORDER[type];
    if (command == null || order === undefined) {
      throw new InvalidInputError(
        `${field}.type`,
        `${field}.type must be one of PutFile, RunScript, GetFile`,
      );
    }
    if (order < previousOrder) {
      throw new InvalidInputError(
        "commands",
        `commands must be ordered PutFile, then RunScript, then GetFile (the API rejects other orders); ${field} is a ${String(type)} after a later type`,
      );
    }
    previousOrder = order;
    const c = command as LiveResponseCommand;
    switch (c.type) {
      case "PutFile":
        requireText(c.fileName, `${field}.file_name`, "a library file name");
        break;
      case "RunScript":
        requireText(c.scriptName, `${field}.script_name`, "a library script name");
        assertScriptArgs(c.args, `${field}.args`);
        break;
      case "GetFile":
        requireText(c.path, `${field}.path`, "a file path on the device");
        break;
    }
  }
}
