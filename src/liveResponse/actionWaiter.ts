import { setTimeout as sleep } from "node:timers/promises";
import type { DefenderClient } from "../defender/defenderClient.js";
import { DefenderNetworkError, InvalidInputError } from "../defender/errors.js";
import { assertActionId } from "../defender/ids.js";
import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { Logger } from "../logger.js";
import { describeProgress } from "./progressMessage.js";
import { isTransientFailure } from "./transientFailure.js";
import type { FollowedAction, WaitOptions } from "./types.js";

export interface FollowOptions extends WaitOptions {
  /** Between poll rounds, already divided by the time scale. */
  intervalMs: number;
  logger: Logger;
}

/** What polling found for one action: its latest state (none if never read) and why its last poll failed. */
interface PollOutcome {
  latest: MachineAction | undefined;
  error: unknown;
}

/**
 * Polls each action that is not final yet, one round right away and then every `intervalMs`, until
 * all are final, `waitMs` of wall-clock time has passed or the signal aborts. An abort or a running
 * out of time is not an error: the latest state is kept and the caller says what to do next. A
 * transient poll failure keeps the previous state and polling goes on; one that waiting cannot fix
 * (404, 401, 403) stops polling that action only. Nothing is thrown: each outcome carries its error.
 */
async function pollUntilFinal(
  client: DefenderClient,
  ids: readonly string[],
  known: ReadonlyMap<string, MachineAction>,
  options: FollowOptions,
): Promise<Map<string, PollOutcome>> {
  if (!Number.isFinite(options.waitMs) || options.waitMs < 0) {
    throw new InvalidInputError(
      "waitMs",
      `waitMs must be a finite number of milliseconds from 0; got ${options.waitMs}`,
    );
  }
  const unique = [...new Set(ids)];
  const { signal } = options;
  const latest = new Map(known);
  const lastError = new Map<string, unknown>();
  const givenUp = new Set<string>();
  const deadline = performance.now() + options.waitMs;

  const pending = () =>
    unique.filter((id) => !givenUp.has(id) && !isFinalActionStatus(latest.get(id)?.status ?? ""));
  for (;;) {
    for (const id of pending()) {
      if (signal?.aborted) break;
      try {
        latest.set(id, await client.getMachineAction(id, { signal }));
        lastError.delete(id);
      } catch (error) {
        // An abort is the caller's decision, not news about the action: the previous error stands.
        if (signal?.aborted) break;
        lastError.set(id, error);
        const transient = isTransientFailure(error);
        if (!transient) givenUp.add(id);
        options.logger.warn(
          { actionId: id, code: (error as { code?: unknown }).code, transient },
          transient
            ? "polling an action failed; keeping its last known state"
            : "polling an action failed in a way waiting cannot fix; no longer polling it",
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
  return new Map(unique.map((id) => [id, { latest: latest.get(id), error: lastError.get(id) }]));
}

/**
 * Follows actions known only by id. An action that could not be read at all, or whose poll failed in
 * a way waiting cannot fix, is an error: its failure is thrown (an abort before the first read too).
 */
export async function followActions(
  client: DefenderClient,
  actionIds: readonly string[],
  options: FollowOptions,
): Promise<MachineAction[]> {
  const ids = actionIds.map((id, i) => assertActionId(id, `action_ids[${i}]`));
  const outcomes = await pollUntilFinal(client, ids, new Map(), options);
  return ids.map((id) => {
    const { latest, error } = outcomes.get(id) ?? { latest: undefined, error: undefined };
    if (error !== undefined && !isTransientFailure(error)) throw error;
    if (latest !== undefined) return latest;
    throw (
      error ?? DefenderNetworkError.from(undefined, "getMachineAction", { dispatched: false, aborted: true })
    );
  });
}

/**
 * Follows actions from states already read, so none is ever lost to a failed poll: each keeps its
 * last known state, with the failure of its latest poll when that failed.
 */
export async function followKnownActions(
  client: DefenderClient,
  actions: readonly MachineAction[],
  options: FollowOptions,
): Promise<FollowedAction[]> {
  const known = new Map(actions.map((a) => [a.id, a]));
  const outcomes = await pollUntilFinal(
    client,
    actions.map((a) => a.id),
    known,
    options,
  );
  return actions.map((action) => {
    const outcome = outcomes.get(action.id);
    return { action: outcome?.latest ?? action, pollError: outcome?.error };
  });
}
