import { cleanLine, NAME_MAX_CHARS } from "./cleanText.js";
import { isFinalActionStatus, isFinalCommandStatus, type MachineAction } from "../defender/schemas.js";

/** One line per action for a person watching a wait, e.g. "fin-ws-0142.contoso.com: InProgress, command 1 of 2 running". */
export function describeAction(action: MachineAction): string {
  // The device names itself: progress messages reach the model outside the untrusted-data block.
  const name = cleanLine(action.computerDnsName ?? action.machineId ?? action.id, NAME_MAX_CHARS);
  const total = action.commands.length;
  switch (action.status) {
    case "Pending":
      return `${name}: Pending, waiting for the device to pick it up`;
    case "InProgress": {
      const current = action.commands.find((c) => !isFinalCommandStatus(c.commandStatus));
      return current === undefined
        ? `${name}: InProgress`
        : `${name}: InProgress, command ${current.index + 1} of ${total} running`;
    }
    case "Failed": {
      const failed = action.commands.find((c) => c.commandStatus === "Failed");
      return failed === undefined
        ? `${name}: Failed`
        : `${name}: Failed at command ${failed.index + 1} of ${total}`;
    }
    default:
      return `${name}: ${action.status}`;
  }
}

/** The summary of a poll round over `total` actions, of which `actions` have a known state. */
export function describeProgress(actions: readonly MachineAction[], total: number): string {
  const lines = actions.map(describeAction);
  if (total === 1) return lines[0] ?? "no status read yet";
  const done = actions.filter((a) => isFinalActionStatus(a.status)).length;
  return `${done} of ${total} actions final; ${lines.length > 0 ? lines.join("; ") : "no status read yet"}`;
}
