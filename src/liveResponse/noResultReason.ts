import type { MachineAction, MachineActionCommand } from "../defender/schemas.js";
import { cleanText } from "./cleanText.js";

/**
 * Why a command has no result to fetch, in words an agent can act on; undefined when it has one (a
 * RunScript or GetFile that Completed). Decided from the action's state alone, so it costs no call.
 */
export function noResultReason(action: MachineAction, command: MachineActionCommand): string | undefined {
  const type = command.command?.type;
  const status = command.commandStatus;
  if (type === "PutFile") return "PutFile has no result to download";
  if (status === "Completed") {
    return type === "RunScript" || type === "GetFile"
      ? undefined
      : `a ${type ?? "command of unknown type"} has no result this server can read`;
  }
  if (status === "Failed") {
    const errors = command.errors.map(cleanText).filter((e) => e.trim() !== "");
    return errors.length > 0
      ? `failed with errors: ${errors.join("; ")}`
      : "failed; the API gave no error text";
  }
  const failedBefore = action.commands.find((c) => c.index < command.index && c.commandStatus === "Failed");
  if (failedBefore !== undefined) {
    return `not run because command ${failedBefore.index} failed (an action stops at its first failed command)`;
  }
  switch (action.status) {
    case "Cancelled":
      return command.startTime === null
        ? "not run: the action was cancelled"
        : "stopped: the action was cancelled while this command ran";
    case "TimeOut":
      return "not run: the action timed out (a script ran past the 10-minute limit, or the device did not pick the action up before its queue expired)";
    case "Failed":
      return "not run: the action failed before this command ran";
    case "Succeeded":
      return `no result: the action Succeeded but this command's status is ${status}`;
    case "Pending":
      return "not run yet: the action is Pending (the device has not picked it up; an offline device's action waits in the queue)";
    default:
      return command.startTime === null
        ? `not run yet: waiting for the commands before it (action ${action.status}); ask again when the action is final`
        : `still running (action ${action.status}); ask again when the action is final`;
  }
}
