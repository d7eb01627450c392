import { z } from "zod";
import { ActionEntrySchema, actionEntry } from "./actionEntry.js";
import { actionLines } from "./actionSummary.js";
import { actionIdInput } from "./commonInputs.js";
import { resultsOf } from "./followActions.js";
import type { ToolDefinition } from "./toolDefinition.js";

const inputSchema = z.strictObject({
  action_id: actionIdInput.describe(
    'The action to cancel: the action_id Defender gave (a GUID), or the request_id ("req_…") run_live_response returned.',
  ),
  comment: z
    .string()
    .trim()
    .min(1)
    .describe("Why the action is cancelled (required); recorded on the action in Defender."),
});

const outputSchema = z.object({ action: ActionEntrySchema });

export const cancelActionTool: ToolDefinition<typeof inputSchema, typeof outputSchema> = {
  name: "cancel_action",
  title: "Cancel a live response action",
  description: [
    "Cancels a live response action that is still Pending or InProgress, by action_id or request_id, with a comment saying why.",
    "When to use: to free a device that is busy with an action you no longer need (Defender runs one live response action per device at a time), or to release the session an action queued for an offline device is holding. This is the only way to stop an action: cancelling an MCP request to run_live_response or get_action does not. Work already done on the device is not undone, and a command that is running may still finish. An action that is already final cannot be cancelled (check it with get_action).",
    "Costs: one call from Defender's budget of 100 a minute and 1,500 an hour; frees one of the tenant's 25 live response sessions.",
    "Returns action: the entry with its new status (Cancelled), status_detail and the results of commands that completed before the cancel.",
  ].join("\n\n"),
  inputSchema,
  outputSchema,
  annotations: {
    readOnlyHint: false,
    // It ends an investigation step for good; a cancelled action cannot be resumed.
    destructiveHint: true,
    // Cancelling the same action again changes nothing more (Defender answers that it is final).
    idempotentHint: true,
    openWorldHint: true,
  },
  async handler(input, ctx) {
    const { requestId, action } = await ctx.liveResponse.cancel(input.action_id, input.comment, {
      signal: ctx.signal,
    });
    const entry = actionEntry(
      { requestId, action },
      await resultsOf(ctx, action),
      { commandIndex: undefined, outputOffset: 0, maxOutputChars: ctx.limits.maxOutputChars },
      ctx.limits.defaultWaitSeconds,
    );
    return {
      structured: { action: entry },
      summary: ["cancel_action:", ...actionLines([entry])].join("\n"),
    };
  },
};
