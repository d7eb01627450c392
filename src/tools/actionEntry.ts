import { z } from "zod";
import { isFinalActionStatus, type Machine, type MachineAction } from "../defender/schemas.js";
import { cleanLine, MESSAGE_MAX_CHARS, NAME_MAX_CHARS } from "../liveResponse/cleanText.js";
import type { CommandResultData, QueuePlace, SubmittedRequest } from "../liveResponse/types.js";
import type { PendingApproval } from "../review/pendingApproval.js";
import { pageOutput } from "./outputPage.js";
import {
  alreadyFinalDetail,
  isInactive,
  pollProblemDetail,
  queuedDetail,
  statusDetail,
} from "./statusDetail.js";
import { describeError, type ErrorDescription } from "./toolErrors.js";

/** The action entry of the external interface (DESIGN.md), shared by run_live_response, get_action and cancel_action. */

export const RunScriptResultEntrySchema = z
  .object({
    exit_code: z
      .number()
      .int()
      .nullable()
      .describe("The script's exit code; null when the device did not report one."),
    output: z.string().describe("This page of the script's output (control characters removed)."),
    errors: z.string().describe("What the script wrote to its error stream."),
    output_chars: z.number().int().describe("Length of the whole output in characters."),
    truncated: z.boolean().describe("True when more output follows this page."),
    next_output_offset: z
      .number()
      .int()
      .nullable()
      .describe(
        "Pass as output_offset (with command_index) to get_action for the next page; null at the end.",
      ),
  })
  .describe("A RunScript command's result.");

export const GetFileResultEntrySchema = z
  .object({
    saved_path: z
      .string()
      .describe("Where the server saved the collected file (the file itself, after extraction)."),
    bytes: z.number().int().describe("Size of the collected file."),
    sha256: z.string().describe("SHA-256 of the collected file."),
    format: z.enum(["zip", "gzip", "raw"]).describe("What Defender delivered."),
    archive_sha256: z.string().nullable().describe("SHA-256 of the download when it was an archive."),
  })
  .describe("A GetFile command's result; the file is never inlined.");

export const CommandEntrySchema = z.object({
  index: z.number().int(),
  type: z.string().describe("RunScript, GetFile or PutFile."),
  status: z.string().describe("Created (not run yet), Completed or Failed."),
  errors: z.array(z.string()),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  result: z.union([RunScriptResultEntrySchema, GetFileResultEntrySchema]).nullable(),
  result_note: z.string().nullable().describe("Why result is null (or cut), when it is."),
});
export type CommandEntry = z.infer<typeof CommandEntrySchema>;

export const ActionErrorSchema = z
  .object({ code: z.string(), message: z.string(), next_step: z.string() })
  .describe("Why this device's action was not submitted.");

export const ActionEntrySchema = z.object({
  request_id: z
    .string()
    .nullable()
    .describe("This server's id for the request (req_…); accepted by get_action."),
  action_id: z
    .string()
    .nullable()
    .describe("Defender's machine action id; null when the action was not created."),
  machine_id: z.string(),
  computer_dns_name: z.string().nullable(),
  status: z
    .string()
    .describe(
      "Queued (held by this server), AwaitingApproval (in the review console), Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled, or NotSubmitted (see error).",
    ),
  status_detail: z
    .string()
    .nullable()
    .describe("Why the action is in this status: offline device, merged request, the failing command, …"),
  created_at: z.string().nullable(),
  updated_at: z.string().nullable(),
  commands: z.array(CommandEntrySchema),
  next_step: z.string().nullable().describe("What to call next, if anything."),
  error: ActionErrorSchema.nullable(),
});
export type ActionEntry = z.infer<typeof ActionEntrySchema>;

/** How a result_note starts when the call's time ran out before the result was fetched. */
const STILL_FETCHING = "The result is still being fetched";

/** How get_action's paging arguments apply to RunScript outputs. */
export interface OutputPaging {
  /** Only this command's output is paged (and shown); every other command's result is left out. */
  commandIndex: number | undefined;
  outputOffset: number;
  maxOutputChars: number;
  /** Said in the result_note of every RunScript result shown (e.g. that the page size was lowered). */
  note?: string | undefined;
}

export interface ActionView {
  requestId: string | null;
  action: MachineAction;
  machine?: Machine | undefined;
  merged?: boolean;
  /** The submit's answer was lost, and the action was found by its correlation tag instead. */
  recovered?: boolean;
  /** Why the latest poll of the action failed: its state is the last one read. */
  pollError?: unknown;
  /** A cancel found the action already final and changed nothing. */
  alreadyFinal?: boolean;
}

/**
 * `results` are the command results of a final action, or undefined while it is not final.
 * `waitSeconds` goes into the suggested next get_action call.
 */
export function actionEntry(
  view: ActionView,
  results: readonly CommandResultData[] | undefined,
  paging: OutputPaging,
  waitSeconds: number,
): ActionEntry {
  const { action } = view;
  const final = isFinalActionStatus(action.status);
  const pollProblem = view.pollError === undefined ? undefined : describeError(view.pollError);
  const commands = action.commands.map((command) => {
    const base = {
      index: command.index,
      type: command.command?.type ?? "unknown",
      status: command.commandStatus,
      errors: command.errors.map((error) => cleanLine(error, MESSAGE_MAX_CHARS)),
      started_at: command.startTime,
      ended_at: command.endTime,
    };
    return { ...base, ...commandResult(action.id, command.index, final, results, paging) };
  });
  const details = [
    view.alreadyFinal ? alreadyFinalDetail(action) : null,
    statusDetail(action, view.machine, view.merged ?? false, view.recovered ?? false),
    pollProblem ? pollProblemDetail(pollProblem) : null,
  ].filter((d): d is string => d !== null);
  const entry: ActionEntry = {
    request_id: view.requestId,
    action_id: action.id,
    machine_id: action.machineId ?? view.machine?.id ?? "",
    computer_dns_name: deviceName(action.computerDnsName ?? view.machine?.computerDnsName ?? null),
    status: action.status,
    status_detail: details.length > 0 ? details.join(" ") : null,
    created_at: action.creationDateTimeUtc,
    updated_at: action.lastUpdateDateTimeUtc,
    commands,
    next_step: null,
    error: null,
  };
  entry.next_step = nextStep(entry, final, isInactive(view.machine), waitSeconds, pollProblem);
  return entry;
}

/** A device whose submit failed: no action exists, and the error says what to do. */
export function notSubmittedEntry(request: SubmittedRequest, error: ErrorDescription): ActionEntry {
  return {
    ...notSubmittedShape(request),
    status: "NotSubmitted",
    status_detail: error.message,
    next_step: error.next_step,
    error,
  };
}

/**
 * The entry of a request that has no action: queued, withdrawn, or failed. `paused`: submits are
 * paused because the shared coordination store is unreachable (submitsPaused), so a queued request
 * does not look merely slow.
 */
export function requestEntry(
  request: SubmittedRequest,
  error: ErrorDescription,
  waitSeconds: number,
  paused = false,
): ActionEntry {
  if (request.queued) return queuedEntry(request, request.queued, waitSeconds, paused);
  if (request.withdrawn) return withdrawnEntry(request);
  return notSubmittedEntry(request, error);
}

/** A request waiting in this server's line: no action yet; get_action follows it by request_id. */
function queuedEntry(
  request: SubmittedRequest,
  place: QueuePlace,
  waitSeconds: number,
  paused: boolean,
): ActionEntry {
  const follow = `call get_action with request_id "${request.requestId}" and wait_seconds ${waitSeconds}`;
  return {
    ...notSubmittedShape(request),
    status: "Queued",
    status_detail: queuedDetail(place, paused),
    next_step: paused
      ? `do not send it again (it keeps its place and is submitted once Redis is back); ${follow} later, or withdraw it with cancel_action; tell whoever runs this server that Redis is unreachable if it lasts`
      : `${follow}; or withdraw it with cancel_action`,
  };
}

/** A queued request withdrawn by cancel_action: it was never submitted. */
function withdrawnEntry(request: SubmittedRequest): ActionEntry {
  return {
    ...notSubmittedShape(request),
    status: "Cancelled",
    status_detail:
      "Cancelled before submission: the request was withdrawn from this server's queue, and nothing was sent to the device.",
    next_step: null,
  };
}

function notSubmittedShape(
  request: SubmittedRequest,
): Omit<ActionEntry, "status" | "status_detail" | "next_step"> {
  return {
    request_id: request.requestId,
    action_id: null,
    machine_id: request.machineId,
    computer_dns_name: deviceName(request.machine?.computerDnsName ?? null),
    created_at: null,
    updated_at: null,
    commands: [],
    error: null,
  };
}

/** The device names itself: one clean line of sane length. */
function deviceName(name: string | null): string | null {
  return name === null ? null : cleanLine(name, NAME_MAX_CHARS);
}

function commandResult(
  actionId: string,
  index: number,
  final: boolean,
  results: readonly CommandResultData[] | undefined,
  paging: OutputPaging,
): Pick<CommandEntry, "result" | "result_note"> {
  if (!final || results === undefined) {
    return { result: null, result_note: "Results are fetched once the action is final." };
  }
  if (paging.commandIndex !== undefined && paging.commandIndex !== index) {
    return {
      result: null,
      result_note: `Not shown while paging command ${paging.commandIndex}; call get_action without command_index to see every result.`,
    };
  }
  const data = results.find((r) => r.index === index);
  if (data === undefined) return { result: null, result_note: "No result was returned for this command." };
  if ("reason" in data) {
    return {
      result: null,
      result_note: data.fetching
        ? `${STILL_FETCHING}; call get_action with action_id "${actionId}" to get it.`
        : data.reason,
    };
  }
  if (data.type === "GetFile" && "savedPath" in data) {
    return {
      result: {
        saved_path: data.savedPath,
        bytes: data.bytes,
        sha256: data.sha256,
        format: data.format,
        archive_sha256: data.archiveSha256,
      },
      result_note: null,
    };
  }
  if ("output" in data) {
    const offset = paging.commandIndex === index ? paging.outputOffset : 0;
    const page = pageOutput(data.output, offset, paging.maxOutputChars);
    const errorsCut = data.errors.length > paging.maxOutputChars;
    const notes = [
      paging.note,
      errorsCut ? `errors cut to ${paging.maxOutputChars} of ${data.errors.length} characters.` : undefined,
    ].filter((n): n is string => n !== undefined);
    return {
      result: {
        exit_code: data.exitCode,
        output: page.text,
        errors: errorsCut ? data.errors.slice(0, paging.maxOutputChars) : data.errors,
        output_chars: data.output.length,
        truncated: page.next !== null,
        next_output_offset: page.next,
      },
      result_note: notes.length > 0 ? notes.join(" ") : null,
    };
  }
  return { result: null, result_note: "This command has no result to show." };
}

function nextStep(
  entry: ActionEntry,
  final: boolean,
  inactive: boolean,
  waitSeconds: number,
  pollProblem: ErrorDescription | undefined,
): string | null {
  const id = entry.action_id ?? entry.request_id;
  const poll = `call get_action with action_id "${id}" and wait_seconds ${waitSeconds}`;
  if (!final) {
    if (pollProblem) return `${poll} once the polling problem is solved (${pollProblem.next_step})`;
    return inactive && entry.status === "Pending"
      ? `${poll}; or cancel it with cancel_action if the device is not expected online soon`
      : poll;
  }
  if (entry.commands.some((c) => c.result_note?.startsWith(STILL_FETCHING))) {
    return `${poll} to get the results still being fetched`;
  }
  const paged = entry.commands.find(
    (c) => c.result !== null && "next_output_offset" in c.result && c.result.next_output_offset !== null,
  );
  if (paged?.result && "next_output_offset" in paged.result) {
    return `call get_action with action_id "${id}", command_index ${paged.index} and output_offset ${paged.result.next_output_offset} to read more output`;
  }
  if (entry.status === "Failed" || entry.status === "TimeOut") {
    return "read status_detail; fix the cause before submitting again with run_live_response";
  }
  return null;
}

/**
 * A request waiting in the review console, one entry per device: nothing was sent; get_action
 * follows it by request_id (the decision, then the actions), cancel_action withdraws it.
 */
export function awaitingApprovalEntries(approval: PendingApproval, waitSeconds: number): ActionEntry[] {
  return approval.devices.map((device) => ({
    request_id: approval.id,
    action_id: null,
    machine_id: device.id,
    computer_dns_name: deviceName(device.name),
    status: "AwaitingApproval",
    status_detail: `Waiting for a reviewer's decision in the review console (${approval.rule}); nothing was sent yet. The request expires undecided at ${approval.expires_at}.`,
    created_at: null,
    updated_at: null,
    commands: [],
    next_step: `call get_action with request_id "${approval.id}" and wait_seconds ${waitSeconds}; or withdraw it with cancel_action`,
    error: null,
  }));
}
