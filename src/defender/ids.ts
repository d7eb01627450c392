import { InvalidInputError } from "./errors.js";

/**
 * Identifiers are checked before any request: a malformed id would cost a call from the API's
 * budget only to come back as a 400 or 404. Field names are the tool-facing ones, so an agent reading
 * the message knows which argument to fix.
 */

const MACHINE_ID = /^[0-9a-f]{40}$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_ECHO_CHARS = 64;

/** What the caller gave, quoted when short, otherwise only its type and length. */
function describeValue(value: unknown): string {
  if (typeof value === "string") {
    if (value.length === 0) return "an empty string";
    return value.length <= MAX_ECHO_CHARS
      ? `${JSON.stringify(value)}`
      : `a string of ${value.length} characters`;
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a value of type ${typeof value}`;
}

/** A device id: 40 hexadecimal characters, returned in lower case (the form the API uses). */
export function assertMachineId(value: unknown, field = "machine_id"): string {
  if (typeof value !== "string" || !MACHINE_ID.test(value)) {
    throw new InvalidInputError(
      field,
      `${field} must be a Defender device id (40 hexadecimal characters, e.g. the "id" of a machine); got ${describeValue(value)}`,
    );
  }
  return value.toLowerCase();
}

/** A machine action id: a GUID such as 7f7d4a1c-2b4e-4b6a-9c1d-0e2f3a4b5c6d. */
export function assertActionId(value: unknown, field = "action_id"): string {
  if (typeof value !== "string" || !GUID.test(value)) {
    throw new InvalidInputError(
      field,
      `${field} must be a machine action id (a GUID like 7f7d4a1c-2b4e-4b6a-9c1d-0e2f3a4b5c6d); got ${describeValue(value)}`,
    );
  }
  return value;
}

/** A 0-based command index, the `index` of an entry in the action's `commands`. */
export function assertCommandIndex(value: unknown, field = "command_index"): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    const got = typeof value === "number" ? String(value) : describeValue(value);
    throw new InvalidInputError(
      field,
      `${field} must be a whole number from 0 (the index of a command in the action); got ${got}`,
    );
  }
  return value;
}
