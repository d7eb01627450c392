import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { CommandResultData } from "../liveResponse/types.js";
import type { ToolContext } from "./toolDefinition.js";
import { describeError } from "./toolErrors.js";

/**
 * Waits, within one tool call, for actions to reach a final status: at most `waitSeconds` of wall-clock
 * time, stopping at once when the request is cancelled (the device actions go on regardless).
 * Progress is measured in actions (total = their number), with credit for a running action's
 * completed commands, so a person sees each step; a notification is sent only when the value grows,
 * because the protocol requires every progress value to be larger than the last.
 */
export async function waitForActions(
  ctx: ToolContext,
  actions: readonly MachineAction[],
  waitSeconds: number,
): Promise<MachineAction[]> {
  const open = actions.filter((a) => !isFinalActionStatus(a.status));
  if (waitSeconds <= 0 || open.length === 0 || ctx.signal.aborted) return [...actions];
  const total = actions.length;
  const alreadyDone = total - open.length;
  let reported = -1;
  const report = (done: number, message: string): void => {
    if (done <= reported) return;
    reported = done;
    ctx.reportProgress({ progress: done, total, message });
  };
  report(alreadyDone, `waiting up to ${waitSeconds} s for ${open.length} of ${total} action(s)`);
  const latest = await ctx.liveResponse.waitForFinal(
    open.map((a) => a.id),
    {
      waitMs: waitSeconds * 1000,
      signal: ctx.signal,
      onProgress: (progress) =>
        report(
          alreadyDone + progress.actions.reduce((sum, a) => sum + actionProgress(a), 0),
          progress.message,
        ),
    },
  );
  const byId = new Map(latest.map((a) => [a.id, a]));
  return actions.map((a) => byId.get(a.id) ?? a);
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
 * Every command's result once the action is final; undefined before. A failure to fetch does not
 * lose the action: each command then carries the reason, and a later get_action fetches again.
 */
export async function resultsOf(
  ctx: ToolContext,
  action: MachineAction,
): Promise<CommandResultData[] | undefined> {
  if (!isFinalActionStatus(action.status) || ctx.signal.aborted) return undefined;
  try {
    return await ctx.liveResponse.commandResults(action, { signal: ctx.signal });
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
