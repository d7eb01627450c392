import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { CommandResultData, FollowedAction } from "../liveResponse/types.js";
import type { CallDeadline } from "./callDeadline.js";
import type { ToolContext } from "./toolDefinition.js";
import { describeError } from "./toolErrors.js";

/**
 * Of the gap between the work done and the total, the share that time spent waiting may fill: the
 * value keeps moving while nothing changes on the device, yet never claims all the work left.
 */
const WAITING_SHARE = 0.5;

/**
 * Waits, within one tool call, for actions to reach a final status: until the call's deadline,
 * stopping at once when the request is cancelled (the device actions go on regardless). No action
 * is lost to a failed poll: each keeps its last known state, with the failure.
 *
 * A progress notification follows every poll round. The protocol requires each value to be larger
 * than the last, so the value is the work done (in actions, with credit for a running action's
 * completed commands) plus a part of the work left that grows with the time waited.
 */
export async function waitForActions(
  ctx: ToolContext,
  actions: readonly MachineAction[],
  deadline: CallDeadline,
): Promise<FollowedAction[]> {
  const unchanged = () => actions.map((action) => ({ action, pollError: undefined }));
  const open = actions.filter((a) => !isFinalActionStatus(a.status));
  const waitMs = deadline.remainingMs();
  if (waitMs <= 0 || open.length === 0 || ctx.signal.aborted) return unchanged();
  const total = actions.length;
  const alreadyDone = total - open.length;
  const started = performance.now();
  let reported = -1;
  const report = (work: number, message: string): void => {
    const waited = Math.min(1, (performance.now() - started) / waitMs);
    const progress = work + (total - work) * WAITING_SHARE * waited;
    if (progress <= reported) return;
    reported = progress;
    ctx.reportProgress({ progress, total, message });
  };
  report(alreadyDone, `waiting up to ${Math.ceil(waitMs / 1000)} s for ${open.length} of ${total} action(s)`);
  const followed = await ctx.liveResponse.follow(open, {
    waitMs,
    signal: deadline.signal(ctx.signal),
    onProgress: (progress) =>
      report(alreadyDone + progress.actions.reduce((sum, a) => sum + actionProgress(a), 0), progress.message),
  });
  return actions.map((action) => followed[open.indexOf(action)] ?? { action, pollError: undefined });
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
