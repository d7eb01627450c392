import type { ActionEntry } from "./actionEntry.js";

/**
 * Summary lines for action entries. They sit outside the fenced data, so only values this server or
 * Defender's schema controls appear here: ids, statuses, error codes and our own next steps. Each
 * value is shown only when it has the shape it should have, so not even a value that was meant to
 * be an id can carry words into the summary. Error messages stay in the fenced data: some quote
 * Defender's own text, which can quote what the request or the device said.
 */

const MACHINE_ID = /^[0-9a-fA-F]{40}$/;
const ACTION_ID = /^[0-9A-Za-z-]{1,64}$/;
const REQUEST_ID = /^req_[0-9A-Za-z_-]{1,64}$/;
/** Statuses and error codes are single words (`InProgress`, `ActiveRequestAlreadyExists`, `AUTH_FAILED`). */
const WORD = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

function shown(value: string | null, shape: RegExp, otherwise: string): string {
  return value !== null && shape.test(value) ? value : otherwise;
}

export function actionLines(entries: readonly ActionEntry[]): string[] {
  return entries.flatMap((entry) => {
    const id =
      entry.action_id !== null
        ? `, action_id ${shown(entry.action_id, ACTION_ID, "(malformed)")}`
        : entry.request_id !== null
          ? `, request_id ${shown(entry.request_id, REQUEST_ID, "(malformed)")}`
          : "";
    const device = shown(entry.machine_id, MACHINE_ID, "(malformed id)");
    const head = `- device ${device}: ${shown(entry.status, WORD, "(unrecognised status)")}${id}`;
    const cause = entry.error
      ? [`  ${shown(entry.error.code, WORD, "error")}: see error.message in the data below`]
      : [];
    const next = entry.next_step ? [`  Next step: ${entry.next_step}`] : [];
    return [head, ...cause, ...next];
  });
}
