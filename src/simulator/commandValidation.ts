import { z } from "zod";
import { engineError, invalidBody, missingParameter, type Checked } from "./engineError.js";

/**
 * The synchronous checks of a runliveresponse or cancel body, in the order the API applies them:
 * shape and casing, then the command order rule, then the script argument characters. Pure functions:
 * the engine decides what happens after a body is known to be well formed.
 */

export const CommandTypeSchema = z.enum(["PutFile", "RunScript", "GetFile"]);
export type CommandType = z.infer<typeof CommandTypeSchema>;

export const CommandParamSchema = z.object({ key: z.string(), value: z.string() });
export type CommandParam = z.infer<typeof CommandParamSchema>;

export const LiveResponseCommandSchema = z.object({
  type: CommandTypeSchema,
  params: z.array(CommandParamSchema),
});
export type LiveResponseCommand = z.infer<typeof LiveResponseCommandSchema>;

export const LiveResponseRequestSchema = z.object({
  commands: z.array(LiveResponseCommandSchema),
  comment: z.string().nullable(),
});
export type LiveResponseRequest = z.infer<typeof LiveResponseRequestSchema>;

/** The parameter each command type requires, and the ones it may add (keys are case-sensitive). */
const PARAMETERS: Record<CommandType, { required: string; optional: readonly string[] }> = {
  PutFile: { required: "FileName", optional: [] },
  RunScript: { required: "ScriptName", optional: ["Args"] },
  GetFile: { required: "Path", optional: [] },
};

const ORDER: Record<CommandType, number> = { PutFile: 0, RunScript: 1, GetFile: 2 };

export const ORDER_RULE_MESSAGE =
  "Commands must be ordered PutFile, then RunScript, then GetFile; each type may repeat";

export const FORBIDDEN_ARGS_MESSAGE =
  "Please avoid using the following characters as part of scripts' parameters: ; & | ! $ ( )";

const FORBIDDEN_ARGS_CHARACTERS = /[;&|!$()]/;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Names are case-sensitive (reference §2.2): a key that differs from an expected one only by case is
 * reported as such, because that is the mistake a client most likely made.
 */
/**
 * Names are case-sensitive (reference §2.2): a key that differs from a known one only in case is an
 * error. Other unknown members are ignored, as the API's JSON binding does.
 */
function checkKeys(body: JsonObject, expected: readonly string[], where: string): Checked<void> {
  for (const key of Object.keys(body)) {
    if (expected.includes(key)) continue;
    const meant = expected.find((name) => name.toLowerCase() === key.toLowerCase());
    if (meant) {
      return invalidBody(`Parameter names are case-sensitive: ${where} has '${key}', expected '${meant}'`);
    }
  }
  return { ok: true, value: undefined };
}

function parseParams(raw: unknown, type: CommandType, where: string): Checked<CommandParam[]> {
  if (raw === undefined) return { ok: true, value: [] };
  if (!Array.isArray(raw)) return invalidBody(`'params' of ${where} must be an array of {key, value}`);
  const { required, optional } = PARAMETERS[type];
  const allowed = [required, ...optional];
  const params: CommandParam[] = [];
  for (const [i, item] of raw.entries()) {
    const at = `params[${i}] of ${where}`;
    if (!isObject(item)) return invalidBody(`${at} must be an object {key, value}`);
    const keys = checkKeys(item, ["key", "value"], at);
    if (!keys.ok) return keys;
    if (typeof item.key !== "string") return invalidBody(`${at} needs a string 'key'`);
    if (typeof item.value !== "string") return invalidBody(`${at} needs a string 'value'`);
    if (!allowed.includes(item.key)) {
      return invalidBody(
        `Unknown parameter '${item.key}' for ${type} in ${where}; parameter keys are case-sensitive: ${allowed.join(", ")}`,
      );
    }
    if (params.some((p) => p.key === item.key)) {
      return invalidBody(`Parameter '${item.key}' appears twice in ${where}`);
    }
    params.push({ key: item.key, value: item.value });
  }
  return { ok: true, value: params };
}

function parseCommand(raw: unknown, index: number): Checked<LiveResponseCommand> {
  const where = `Commands[${index}]`;
  if (!isObject(raw)) return invalidBody(`${where} must be an object {type, params}`);
  const keys = checkKeys(raw, ["type", "params"], where);
  if (!keys.ok) return keys;
  if (raw.type === undefined) return missingParameter("type", `in ${where}`);
  const type = CommandTypeSchema.safeParse(raw.type);
  if (!type.success) {
    return invalidBody(
      `Unknown command type ${JSON.stringify(raw.type)} in ${where}; expected PutFile, RunScript or GetFile`,
    );
  }
  const params = parseParams(raw.params, type.data, where);
  if (!params.ok) return params;
  const required = PARAMETERS[type.data].required;
  const value = params.value.find((p) => p.key === required)?.value;
  if (value === undefined || value.trim() === "") {
    return missingParameter(required, `in ${where} (${type.data})`);
  }
  return { ok: true, value: { type: type.data, params: params.value } };
}

/** The first command that breaks the PutFile → RunScript → GetFile order, if any. */
export function checkCommandOrder(commands: readonly LiveResponseCommand[]): Checked<void> {
  for (let i = 1; i < commands.length; i++) {
    const previous = commands[i - 1]!;
    const current = commands[i]!;
    if (ORDER[current.type] < ORDER[previous.type]) {
      return invalidBody(
        `${ORDER_RULE_MESSAGE}; Commands[${i}] (${current.type}) comes after a ${previous.type}`,
      );
    }
  }
  return { ok: true, value: undefined };
}

export function checkScriptArgs(commands: readonly LiveResponseCommand[]): Checked<void> {
  for (const command of commands) {
    const args = command.params.find((p) => p.key === "Args");
    if (args === undefined) continue;
    if (args.value.trim() === "") {
      return {
        ok: false,
        error: engineError(
          400,
          "InvalidInput",
          "Args must not be empty; leave it out when the script takes none",
        ),
      };
    }
    if (FORBIDDEN_ARGS_CHARACTERS.test(args.value)) {
      return { ok: false, error: engineError(400, "InvalidInput", FORBIDDEN_ARGS_MESSAGE) };
    }
  }
  return { ok: true, value: undefined };
}

/** Every synchronous body check of POST machines/{id}/runliveresponse. */
export function parseLiveResponseBody(body: unknown): Checked<LiveResponseRequest> {
  if (!isObject(body)) return invalidBody("Request body is incorrect: expected a JSON object");
  const keys = checkKeys(body, ["Commands", "Comment"], "the request body");
  if (!keys.ok) return keys;
  if (body.Commands === undefined) return missingParameter("Commands");
  if (!Array.isArray(body.Commands)) return invalidBody("'Commands' must be an array");
  if (body.Commands.length === 0) return invalidBody("'Commands' must contain at least one command");
  if (body.Comment !== undefined && body.Comment !== null && typeof body.Comment !== "string") {
    return invalidBody("'Comment' must be a string");
  }
  const commands: LiveResponseCommand[] = [];
  for (const [i, raw] of body.Commands.entries()) {
    const command = parseCommand(raw, i);
    if (!command.ok) return command;
    commands.push(command.value);
  }
  const order = checkCommandOrder(commands);
  if (!order.ok) return order;
  const args = checkScriptArgs(commands);
  if (!args.ok) return args;
  return { ok: true, value: { commands, comment: body.Comment ?? null } };
}

/** POST machineactions/{id}/cancel: `{ "Comment": "..." }`, Comment required. */
export function parseCancelBody(body: unknown): Checked<string> {
  if (!isObject(body)) return invalidBody("Request body is incorrect: expected a JSON object");
  const keys = checkKeys(body, ["Comment"], "the request body");
  if (!keys.ok) return keys;
  if (body.Comment === undefined || body.Comment === null) return missingParameter("Comment");
  if (typeof body.Comment !== "string") return invalidBody("'Comment' must be a string");
  if (body.Comment.trim() === "") return missingParameter("Comment");
  return { ok: true, value: body.Comment };
}

/** The value of a command's parameter; validation guarantees the required one is there. */
export function paramValue(command: LiveResponseCommand, key: string): string | undefined {
  return command.params.find((p) => p.key === key)?.value;
}
