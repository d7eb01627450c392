import type { Machine, MachineAction } from "../defender/schemas.js";
import { cleanText } from "../liveResponse/cleanText.js";
import type { QueuePlace } from "../liveResponse/types.js";
import type { ErrorDescription } from "./toolErrors.js";

/**
 * Why an action is in its status, in words an agent can act on. A Pending action on a device that
 * is not Active is the case that matters most: it holds one of the tenant's sessions while it waits.
 */

export const QUEUED_OFFLINE_NOTE =
  "live response actions to this device will queue (Pending) until it is online, holding one of the tenant's sessions";

export function isInactive(machine: Machine | undefined): boolean {
  return machine?.healthStatus != null && machine.healthStatus !== "Active";
}

export function statusDetail(
  action: MachineAction,
  machine: Machine | undefined,
  merged: boolean,
  recovered = false,
): string | null {
  const parts: string[] = [];
  if (recovered) {
    parts.push(
      "The answer to the submit was lost in transit; this server found the action by its correlation tag instead of sending it again.",
    );
  }
  if (merged) {
    parts.push(
      "Defender returned an existing identical action on this device instead of creating a new one (identical requests sent close together merge).",
    );
  }
  const own = ownStatusDetail(action, machine);
  if (own !== null) parts.push(own);
  return parts.length > 0 ? parts.join(" ") : null;
}

function ownStatusDetail(action: MachineAction, machine: Machine | undefined): string | null {
  switch (action.status) {
    case "Pending":
      if (isInactive(machine)) {
        return `The device is ${machine?.healthStatus}: ${QUEUED_OFFLINE_NOTE}. Defender keeps it queued for up to 3 days; cancel it with cancel_action if it is no longer needed.`;
      }
      return machine
        ? "Waiting for the device to pick the action up (usually seconds)."
        : "Waiting for the device to pick the action up; if the device is offline, the action stays Pending until it comes online.";
    case "InProgress": {
      const done = action.commands.filter((c) => c.commandStatus === "Completed").length;
      return `Running on the device: ${done} of ${action.commands.length} commands done.`;
    }
    case "Failed": {
      const failed = action.commands.find((c) => c.commandStatus === "Failed");
      if (!failed) return "The action failed without naming a command.";
      const why = failed.errors.length > 0 ? `: ${failed.errors.map(cleanText).join("; ")}` : "";
      return `Command ${failed.index} (${failed.command?.type ?? "unknown"}) failed${why}. The commands after it were not run.`;
    }
    case "TimeOut":
      return "The action timed out: a RunScript ran longer than Defender's 10-minute limit, or the device stayed offline longer than Defender queues actions.";
    case "Cancelled": {
      const by = action.cancellationRequestor ? ` by ${action.cancellationRequestor}` : "";
      const comment = action.cancellationComment
        ? ` (comment: ${cleanText(action.cancellationComment)})`
        : "";
      return `Cancelled${by}${comment}. Commands that completed before the cancel still have results.`;
    }
    default:
      return null;
  }
}

/** A cancel of an action that was already final: idempotent, so not an error. */
export function alreadyFinalDetail(action: MachineAction): string {
  return `The action was already final (${action.status}) when the cancel arrived: nothing was changed.`;
}

/** The state shown is older than it looks when the latest poll failed. */
export function pollProblemDetail(problem: ErrorDescription): string {
  return `This server could not read the action's latest state (${problem.code}: ${problem.message}); the status shown is the last one read.`;
}

/**
 * Replicas keep the tenant's limits in Redis; while it cannot be reached no replica may submit, since
 * only Redis can tell whether the tenant's budget has room. Nothing is lost meanwhile.
 */
export const COORDINATION_UNREACHABLE_NOTE =
  "the shared coordination store (Redis), through which this server's replicas keep the tenant's limits, is unreachable: submits are paused until it returns, and resume by themselves when it does";

/** Where a queued request stands, and when it should be submitted. `paused`: see submitsPaused. */
export function queuedDetail(place: QueuePlace, paused = false): string {
  if (paused) {
    return `Queued in this server, not submitted: ${COORDINATION_UNREACHABLE_NOTE}. It keeps its place (position ${place.position} of ${place.of}) and is submitted once, after Redis is back.`;
  }
  if (place.position === 0) return "Queued in this server: its turn has come and it is being submitted now.";
  const what = {
    session: "waiting for a live response session (this server's session cap is reached)",
    device: `waiting for its device's turn (one action per device; the device runs ${place.busyActionId ? `action ${place.busyActionId}` : "another action of this server"})`,
    submit: "waiting for the tenant's submit budget (Defender takes 10 submits a minute)",
  }[place.waitingFor];
  const when =
    place.estimateSeconds === null
      ? "estimated submit time unknown (no action of this server has finished yet to estimate from)"
      : `estimated submit in about ${place.estimateSeconds} s`;
  return `Queued in this server: position ${place.position} of ${place.of} ${what}; ${when}. It is submitted when its turn comes, even after this call returns.`;
}
