import type { ActionEntry } from "./actionEntry.js";

/**
 * Summary lines for action entries. Only values this server or Defender's schema controls appear
 * here (ids, statuses, our own next steps); names and outputs from devices stay in the fenced data.
 */
export function actionLines(entries: readonly ActionEntry[]): string[] {
  return entries.flatMap((entry) => {
    const id = entry.action_id
      ? `, action_id ${entry.action_id}`
      : entry.request_id
        ? `, request_id ${entry.request_id}`
        : "";
    const head = `- device ${entry.machine_id}: ${entry.status}${id}`;
    const cause = entry.error ? [`  ${entry.error.code}: ${entry.error.message}`] : [];
    const next = entry.next_step ? [`  Next step: ${entry.next_step}`] : [];
    return [head, ...cause, ...next];
  });
}
