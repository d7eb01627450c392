import { setTimeout as sleep } from "node:timers/promises";
import type { DefenderClient } from "../defender/defenderClient.js";
import { DefenderNetworkError, InvalidInputError } from "../defender/errors.js";
import { assertActionId } from "../defender/ids.js";
import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { Logger } from "../logger.js";
import { describeProgress } from "./progressMessage.js";
import { isTransientFailure } from "./transientFailure.js";
import type { WaitOptions } from "./types.js";

export interface FollowOptions extends WaitOptions {
  /** Between poll rounds, already divided by the time scale. */
  intervalMs: number;
  logger: Logger;
}

/**
 * Polls each action that is not final yet, one round right away and then every `intervalMs`, until
 * all are final, `waitMs` of wall-clock time has passed or the signal aborts. An abort or a running
 * out of time is not an error: the latest state is returned and the caller says what to do next. A
 * transient poll failure keeps the previous state; one that waiting cannot fix (404, 401, 403) is thrown.
 */
export async function followActions(
  client: DefenderClient,
  actionIds: readonly string[],
  options: FollowOptions,
): Promise<MachineAction[]> {
  const ids = actionIds.map((id, i) => assertActionId(id, `action_ids[${i}]`));
  if (!Number.isFinite(options.waitMs) || options.waitMs < 0) {
    throw new InvalidInputError(
      "waitMs",
      `waitMs must be a finite number of milliseconds from 0; got ${options.waitMs}`,
    );
  }
  const unique = [...new Set(ids)];
  const { signal } = options;
  const latest = new Map<string, MachineAction>();
  const lastError = new Map<string, unknown>();
  const deadline = performance.now() + options.waitMs;

  const pending = () => unique.filter((id) => !isFinalActionStatus(latest.get(id)?.status ?? ""));
  for (;;) {
    for (const id of pending()) {
      if (signal?.aborted) break;
      try {
        latest.set(id, await client.getMachineAction(id, { signal }));
        lastError.delete(id);
      } catch (error) {
        lastError.set(id, error);
        if (signal?.aborted) break;
        if (!isTransientFailure(error)) throw error;
        options.logger.warn(
          { actionId: id, code: (error as { code?: unknown }).code },
          "polling an action failed; keeping its last known state",
        );
      }
    }
    const actions = unique.flatMap((id) => latest.get(id) ?? []);
    options.onProgress?.({
      done: actions.filter((a) => isFinalActionStatus(a.status)).length,
      total: unique.length,
      actions,
      message: describeProgress(actions, unique.length),
    });
    const remaining = deadline - performance.now();
    if (pending().length === 0 || remaining <= 0 || signal?.aborted) break;
    try {
      await sleep(Math.min(options.intervalMs, remaining), undefined, { signal });
    } catch {
      break;
    }
  }
  return ids.map((id) => {
    const action = latest.get(id);
    if (action !== undefined) return action;
    throw (
      lastError.get(id) ??
      DefenderNetworkError.from(undefined, "getMachineAction", { dispatched: false, aborted: true })
    );
  });
}
