import { z } from "zod";
import { DEFAULT_TOOL_LIMITS } from "./toolDeps.js";

/**
 * Input fields more than one tool takes, described once. Their error messages say how to fix the
 * value: the SDK answers a schema mistake with these messages and nothing else, so they are the
 * agent's only guide.
 */

export const MACHINE_ID_PATTERN = /^[0-9a-fA-F]{40}$/;

/** 15 minutes: longer than any client keeps a request open, and RunScript's own limit is 10 minutes. */
export const WAIT_SECONDS_MAX = 900;

/** A strict object whose unknown-key message names the fields it does take. */
export function strictFields<Shape extends z.ZodRawShape>(
  shape: Shape,
  what: string,
): z.ZodObject<Shape, z.core.$strict> {
  const fields = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `Unrecognized key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}: ${what} takes only ${fields} (names are case-sensitive)`
        : undefined,
  });
}

export const machineIdInput = z
  .string({ error: "a device id is a string of 40 hexadecimal characters: get it from find_machines" })
  .regex(
    MACHINE_ID_PATTERN,
    "a device id is 40 hexadecimal characters (not a device name): get it from find_machines",
  );

export const actionIdInput = z
  .string({
    error:
      'action_id is a string: the action_id (a GUID) or the request_id ("req_…") run_live_response returned',
  })
  .trim()
  .min(1, "action_id is empty: give the action_id (a GUID) run_live_response returned")
  .max(100, "action_id is too long: an action id is a GUID")
  .describe(
    'The action: the action_id Defender gave (a GUID), or the request_id ("req_…") run_live_response returned. Give action_id or request_id, not both.',
  );

export const requestIdInput = z
  .string({ error: 'request_id is a string starting with "req_", as run_live_response returned it' })
  .trim()
  .regex(
    /^req_/,
    'a request_id starts with "req_", as run_live_response returned it; a Defender action id (a GUID) goes in action_id',
  )
  .max(100, "request_id is too long: copy it as run_live_response returned it")
  .describe(
    'This server\'s id of the request ("req_…"), as run_live_response returned it; known only to the server process that issued it. Give action_id or request_id, not both.',
  );

export const waitSecondsInput = z
  .number({
    error: `wait_seconds is a whole number of seconds from 0 to ${WAIT_SECONDS_MAX}; leave it out for the default (${DEFAULT_TOOL_LIMITS.defaultWaitSeconds})`,
  })
  .int()
  .min(0)
  .max(WAIT_SECONDS_MAX)
  .optional()
  .describe(
    `Wall-clock seconds this call may take, counted from its start, before it returns the current state (default ${DEFAULT_TOOL_LIMITS.defaultWaitSeconds}, under the 60 s timeout most MCP clients apply). 0 reads once without waiting.`,
  );
