import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { CommandResultData, FollowedAction } from "../liveResponse/types.js";
import type { CallDeadline } from "./callDeadline.js";
import type { ToolContext } from "./toolDefinition.js";
import { ProgressReporter } from "./progressReporter.js";
import { describeError } from "./toolErrors.js";

/** Where a wait's poll rounds go: the latest states of the actions followed, and a line about them. */
export interface FollowProgress {
  observed(actions: readonly MachineAction[], message: string): void;
}

/**
 * Waits, within one tool call, for actions to reach a final status: until the call's deadline,
 * stopping at once when the request is cancelled (the device actions go on regardless). No action
 * is lost to a failed poll: each keeps its last known state, with the failure. Every poll round goes
 * to `progress` (by default, a notification counting the actions followed).
 */
export async function waitForActions(
  ctx: ToolContext,
  actions: readonly MachineAction[],
  deadline: CallDeadline,
  progress?: FollowProgress,
): Promise<FollowedAction[]> {
  const unchanged = () => actions.map((action) => ({ action, pollError: undefined }));
  const open = actions.filter((a) => !isFinalActionStatus(a.status));
  const waitMs = deadline.remainingMs();
  if (waitMs <= 0 || open.length === 0 || ctx.signal.aborted) return unchanged();
  const sink = progress ?? actionsProgress(ctx, actions, waitMs);
  const followed = await ctx.liveResponse.follow(open, {
    waitMs,
    signal: deadline.signal(ctx.signal),
    onProgress: (round) => sink.observed(round.actions, round.message),
  });
  return actions.map((action) => followed[open.indexOf(action)] ?? { action, pollError: undefined });
}

/**
 * A wait's notifications counted in actions: the work done (with credit for a running action's
 * completed commands), moving on with the time waited; the first one right away.
 */
function actionsProgress(
  ctx: ToolContext,
  actions: readonly MachineAction[],
  waitMs: number,
): FollowProgress {
  const reporter = new ProgressReporter(ctx, actions.length, waitMs);
  const alreadyDone = actions.filter((a) => isFinalActionStatus(a.status)).length;
  const open = actions.length - alreadyDone;
  reporter.report(
    alreadyDone,
    `waiting up to ${Math.ceil(waitMs / 1000)} s for ${open} of ${actions.length} action(s)`,
  );
  return {
    observed: (latest, message) =>
      reporter.report(alreadyDone + latest.reduce((sum, a) => sum + actionProgress(a), 0), message),
  };
}

/** How far one action has come, from 0 (Pending) to 1 (final), crediting each completed command. */
export function actionProgress(action: MachineAction): number {
  if (isFinalActionStatus(action.status)) return 1;
  if (action.status === "Pending") return 0;
  const commands = action.commands.length || 1;
  const completed = action.commands.filter((c) => c.commandStatus === "Completed").length;
  return Math.round((0.1 + (0.8 * completed) / commands) * 1000) / 1000;
}

/**
 * Every command's result once the action is final; undefined before. Fetching stops at the call's
 * deadline: a result not fetched by then is marked as still being fetched, and the fetch goes on for
 * a later get_action. A failure to fetch does not lose the action: each command then carries the
 * reason, and a later get_action fetches again.
 */
export async function resultsOf(
  ctx: ToolContext,
  action: MachineAction,
  deadline: CallDeadline,
): Promise<CommandResultData[] | undefined> {
  if (!isFinalActionStatus(action.status) || ctx.signal.aborted) return undefined;
  try {
    return await ctx.liveResponse.commandResults(action, { signal: deadline.signal(ctx.signal) });
  } catch (error) {
    const { message } = describeError(error);
    ctx.logger.warn({ actionId: action.id, err: message }, "could not fetch command results");
    return action.commands.map((c) => ({
      type: c.command?.type ?? "unknown",
      index: c.index,
      reason: `The result could not be fetched (${message}); call get_action with action_id "${action.id}" to try again.`,
    }));
  }
}
