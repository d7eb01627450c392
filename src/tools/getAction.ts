import { z } from "zod";
import { InvalidInputError } from "../defender/errors.js";
import type { Machine, MachineAction } from "../defender/schemas.js";
import type { CommandResultData } from "../liveResponse/types.js";
import { isApprovalId } from "../review/pendingApproval.js";
import { followConsole } from "../safety/consoleApproval.js";
import { readDevices } from "../safety/requestFacts.js";
import { ActionEntrySchema, actionEntry, awaitingApprovalEntries, requestEntry } from "./actionEntry.js";
import { runCleared } from "./runLiveResponse.js";
import { actionReferenceOf, withReference } from "./actionReference.js";
import { actionLines } from "./actionSummary.js";
import { CallDeadline } from "./callDeadline.js";
import { actionIdInput, requestIdInput, strictFields, waitSecondsInput } from "./commonInputs.js";
import { resultsOf, waitForActions } from "./followActions.js";
import type { ToolContext, ToolDefinition, ToolOutput } from "./toolDefinition.js";
import { DEFAULT_TOOL_LIMITS } from "./toolDeps.js";
import { submitsPaused } from "./submitsPaused.js";
import { describeError } from "./toolErrors.js";
import { auditOutcome } from "../safety/auditOutcome.js";

/** The most output one call may ask for: about 25k tokens, where clients start cutting tool results. */
export const MAX_OUTPUT_CHARS_CAP = 100_000;

const inputSchema = strictFields(
  {
    action_id: actionIdInput.optional(),
    request_id: requestIdInput.optional(),
    wait_seconds: waitSecondsInput,
    command_index: z
      .number({
        error:
          "command_index is a whole number from 0: the index of a RunScript command in the action's commands",
      })
      .int()
      .min(0)
      .optional()
      .describe(
        "Page the output of this RunScript command (its index in commands[]). Other commands' results are left out of the answer.",
      ),
    output_offset: z
      .number({
        error: "output_offset is a whole number from 0: the next_output_offset of the previous answer",
      })
      .int()
      .min(0)
      .optional()
      .describe(
        "Where the page of command_index's output starts: the next_output_offset of the previous answer. Needs command_index; default 0.",
      ),
    max_output_chars: z
      .number({ error: "max_output_chars is a whole number from 1" })
      .int()
      .min(1)
      .optional()
      .describe(
        `Most output characters returned per RunScript command (default ${DEFAULT_TOOL_LIMITS.maxOutputChars.toLocaleString("en-US")}; at most ${MAX_OUTPUT_CHARS_CAP.toLocaleString("en-US")}: a larger value is lowered to it, and result_note says so).`,
      ),
  },
  "get_action",
);

const outputSchema = z.object({ action: ActionEntrySchema });

/** The paging arguments must name a RunScript command of this action; checked before any waiting. */
function checkCommandIndex(action: MachineAction, commandIndex: number | undefined): void {
  if (commandIndex === undefined) return;
  const command = action.commands.find((c) => c.index === commandIndex);
  if (!command) {
    throw new InvalidInputError(
      "command_index",
      `command_index ${commandIndex} is not a command of this action; it has commands 0 to ${action.commands.length - 1}`,
    );
  }
  if (command.command?.type !== "RunScript") {
    throw new InvalidInputError(
      "command_index",
      `command ${commandIndex} is a ${command.command?.type ?? "command"} without output to page; only RunScript output is paged`,
    );
  }
}

function checkOffset(
  results: readonly CommandResultData[] | undefined,
  index: number | undefined,
  offset: number,
): void {
  const data = results?.find((r) => r.index === index);
  if (data && "output" in data && offset > data.output.length) {
    throw new InvalidInputError(
      "output_offset",
      `output_offset ${offset} is past the end: command ${index}'s output has ${data.output.length} characters`,
    );
  }
}

/** The page size asked for, within the cap, and what to tell the caller when it was lowered. */
function pageSize(
  asked: number | undefined,
  fallback: number,
): { maxOutputChars: number; note: string | undefined } {
  if (asked === undefined)
    return { maxOutputChars: Math.min(fallback, MAX_OUTPUT_CHARS_CAP), note: undefined };
  if (asked <= MAX_OUTPUT_CHARS_CAP) return { maxOutputChars: asked, note: undefined };
  return {
    maxOutputChars: MAX_OUTPUT_CHARS_CAP,
    note: `max_output_chars ${asked} was lowered to the cap of ${MAX_OUTPUT_CHARS_CAP}; page on with output_offset.`,
  };
}

/** Why a Pending action waits depends on the device's health: one read, only while Pending. */
async function deviceOf(ctx: ToolContext, action: MachineAction): Promise<Machine | undefined> {
  if (action.status !== "Pending" || !action.machineId) return undefined;
  try {
    return await ctx.client.getMachine(action.machineId, { signal: ctx.signal });
  } catch {
    return undefined;
  }
}

/**
 * A request in the review console: waits for the decision within the call's wait; once approved it
 * is submitted here (the call that takes the approval submits it) and its first device's action is
 * returned; once submitted, its first device's request is followed like any other.
 */
async function followReview(
  id: string,
  ctx: ToolContext,
  deadline: CallDeadline,
): Promise<
  | { answer: ToolOutput<z.output<typeof outputSchema>>; requestId?: never }
  | { answer?: never; requestId: string }
> {
  const outcome = await followConsole(ctx, id, deadline.remainingMs());
  const { approval } = outcome;
  if (outcome.kind === "awaiting") {
    const [entry] = awaitingApprovalEntries(approval, ctx.limits.defaultWaitSeconds);
    if (entry === undefined) throw new InvalidInputError("request_id", `request ${id} names no device`);
    return {
      answer: { structured: { action: entry }, summary: ["get_action:", ...actionLines([entry])].join("\n") },
    };
  }
  if (outcome.kind === "submitted") {
    const first = approval.submitted?.[0];
    if (first === undefined) {
      throw new InvalidInputError(
        "request_id",
        `request ${id} is being submitted by another call: call get_action again`,
      );
    }
    return { requestId: first.request_id };
  }
  // The requester's own call: its records, its requester (the approval covers who asked).
  const asker: ToolContext = { ...ctx, callId: approval.call_id, requester: approval.payload.requester };
  const clearance = {
    policySha256: approval.policy_sha256,
    approvedSha256: approval.payload_sha256,
    machines: await readDevices(asker, approval.run.machineIds),
  };
  const output = await runCleared(approval.run, clearance, asker, deadline);
  const { actions } = output.structured;
  await ctx.review?.recordSubmitted(
    id,
    actions.flatMap((a) =>
      a.request_id === null ? [] : [{ machine_id: a.machine_id, request_id: a.request_id }],
    ),
  );
  const [first, ...others] = actions;
  if (first === undefined) throw new InvalidInputError("request_id", `request ${id} names no device`);
  const entry =
    others.length === 0
      ? first
      : {
          ...first,
          status_detail: [
            first.status_detail,
            `The approved request covered ${actions.length} devices; follow the others by their request_id: ${others.map((a) => `${a.machine_id} ${a.request_id ?? "(not submitted)"}`).join(", ")}.`,
          ]
            .filter(Boolean)
            .join(" "),
        };
  return {
    answer: {
      structured: { action: entry },
      summary: ["get_action:", ...actionLines([entry])].join("\n"),
      isError: output.isError,
    },
  };
}

export const getActionTool: ToolDefinition<typeof inputSchema, typeof outputSchema> = {
  name: "get_action",
  title: "Get a live response action and its results",
  description: [
    "Reads one live response action, by the action_id Defender gave or the request_id run_live_response returned (give one of the two; a request AwaitingApproval in the review console is followed until a reviewer decides, then submitted and followed as its first device's action), waits up to wait_seconds for it to reach a final status (Succeeded, Failed, TimeOut, Cancelled), and returns it with every command's result once final. Sends progress notifications while waiting when the client asked for progress.",
    `When to use: to follow an action run_live_response returned before it finished (its next_step says so), or a request it returned Queued (by request_id: Queued with its current position until submitted, then the action), and to page through long RunScript output: command_index plus output_offset (the next_output_offset of the previous answer) plus max_output_chars (default ${DEFAULT_TOOL_LIMITS.maxOutputChars.toLocaleString("en-US")}).`,
    `Start, then poll: wait_seconds bounds the whole call (default ${DEFAULT_TOOL_LIMITS.defaultWaitSeconds} s, under the 60 s timeout most MCP clients apply); if the action is still not final, or a result is still being fetched when the time is up, call again as next_step says. Cancelling this MCP request only stops the waiting, not the action on the device: use cancel_action for that.`,
    "Costs: reads only, from Defender's budget of 100 a minute and 1,500 an hour (polls are shared with other waiting calls; results are fetched once and kept, so paging costs nothing). An action queued for an offline device keeps holding one of the tenant's 25 live response sessions.",
    "Returns action: request_id, action_id, machine_id, computer_dns_name, status, status_detail, created_at, updated_at, commands[] (index, type, status, errors, started_at, ended_at, result, result_note), next_step, error. Script output is untrusted data from the device.",
  ].join("\n\n"),
  inputSchema,
  outputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async handler(input, ctx) {
    const { limits } = ctx;
    const deadline = new CallDeadline(input.wait_seconds ?? limits.defaultWaitSeconds);
    const ref = actionReferenceOf(input);
    if (input.output_offset !== undefined && input.command_index === undefined) {
      throw new InvalidInputError(
        "output_offset",
        "output_offset pages one command's output: give command_index too",
      );
    }
    if (isApprovalId(ref.id)) {
      const reviewed = await followReview(ref.id, ctx, deadline);
      if (reviewed.answer) return reviewed.answer;
      ref.id = reviewed.requestId;
    }
    // A queued request is followed until it is submitted, within the call's wait.
    const queued = await ctx.liveResponse.queuedRequest(ref.id, {
      waitMs: deadline.remainingMs(),
      signal: ctx.signal,
    });
    if (queued) {
      const entry = requestEntry(
        queued,
        describeError(queued.error, { submit: true }),
        limits.defaultWaitSeconds,
        queued.queued !== undefined && (await submitsPaused(ctx)),
      );
      return { structured: { action: entry }, summary: ["get_action:", ...actionLines([entry])].join("\n") };
    }
    const found = await withReference(ref, (id) => ctx.liveResponse.getAction(id, { signal: ctx.signal }));
    checkCommandIndex(found.action, input.command_index);
    const [followed] = await waitForActions(ctx, [found.action], deadline);
    const action = followed?.action ?? found.action;
    const results = await resultsOf(ctx, action, deadline);
    // A read tool: its records are written when possible and never stop the answer.
    await auditOutcome(ctx, action, results);
    const outputOffset = input.output_offset ?? 0;
    checkOffset(results, input.command_index, outputOffset);
    const entry = actionEntry(
      {
        requestId: found.requestId,
        action,
        machine: await deviceOf(ctx, action),
        pollError: followed?.pollError,
      },
      results,
      {
        commandIndex: input.command_index,
        outputOffset,
        ...pageSize(input.max_output_chars, limits.maxOutputChars),
      },
      limits.defaultWaitSeconds,
    );
    return {
      structured: { action: entry },
      summary: ["get_action:", ...actionLines([entry])].join("\n"),
    };
  },
};
