import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import { cleanLine, NAME_MAX_CHARS } from "../liveResponse/cleanText.js";
import { describeAction } from "../liveResponse/progressMessage.js";
import type { SubmittedRequest } from "../liveResponse/types.js";
import { actionProgress, type FollowProgress } from "./followActions.js";
import { ProgressReporter } from "./progressReporter.js";
import type { ToolContext } from "./toolDefinition.js";

/** Up to this many devices, each one's state is spelled out in the message; beyond, counts only. */
const DEVICES_SPELLED_OUT = 10;

/**
 * A submitted action counts a little before it runs, and a request that took its place in a queue a
 * little less, so the value moves (and the news is sent) as each device's outcome becomes known.
 */
const SUBMITTED_CREDIT = 0.05;
const QUEUED_CREDIT = 0.01;

interface DeviceState {
  machineId: string;
  entry: SubmittedRequest | undefined;
  action: MachineAction | undefined;
}

/**
 * One progress stream for a whole run_live_response call, from the first submit to the last action
 * final: how many devices are submitted, pending, running and done, which wait their turn and which
 * could not be submitted, and each device's state for small batches. Its value counts devices: a
 * device is done when its action is final or its submit failed.
 */
export class BatchProgress implements FollowProgress {
  private readonly reporter: ProgressReporter;
  private readonly devices: DeviceState[];
  private readonly byAction = new Map<string, DeviceState>();

  constructor(ctx: Pick<ToolContext, "reportProgress">, machineIds: readonly string[], waitMs: number) {
    this.reporter = new ProgressReporter(ctx, machineIds.length, waitMs);
    // The first notification follows the first device's outcome: before it there is nothing to tell.
    this.devices = machineIds.map((machineId) => ({ machineId, entry: undefined, action: undefined }));
  }

  /** A device's entry for this call is known: submitted, failed, withdrawn or queued. */
  entry(entry: SubmittedRequest): void {
    const device = this.devices.find((d) => d.machineId.toLowerCase() === entry.machineId.toLowerCase());
    if (device === undefined) return;
    device.entry = entry;
    if (entry.action) {
      device.action = entry.action;
      this.byAction.set(entry.action.id.toLowerCase(), device);
    }
    this.report();
  }

  observed(actions: readonly MachineAction[]): void {
    for (const action of actions) {
      const device = this.byAction.get(action.id.toLowerCase());
      if (device) device.action = action;
    }
    this.report();
  }

  private report(): void {
    const count = { submitted: 0, pending: 0, running: 0, done: 0, queued: 0, waiting: 0, notSubmitted: 0 };
    let work = 0;
    for (const device of this.devices) {
      const { entry, action } = device;
      if (action) {
        count.submitted += 1;
        if (isFinalActionStatus(action.status)) count.done += 1;
        else if (action.status === "Pending") count.pending += 1;
        else count.running += 1;
        work += Math.max(SUBMITTED_CREDIT, actionProgress(action));
      } else if (entry?.queued) {
        count.queued += 1;
        work += QUEUED_CREDIT;
      } else if (entry) {
        count.notSubmitted += 1;
        work += 1;
      } else count.waiting += 1;
    }
    const parts = [
      `${count.submitted} of ${this.devices.length} submitted (${count.pending} pending, ${count.running} running, ${count.done} done)`,
      ...(count.waiting > 0 ? [`${count.waiting} being submitted`] : []),
      ...(count.queued > 0 ? [`${count.queued} queued`] : []),
      ...(count.notSubmitted > 0 ? [`${count.notSubmitted} not submitted`] : []),
    ];
    const details =
      this.devices.length <= DEVICES_SPELLED_OUT ? this.devices.map((d) => `; ${describeDevice(d)}`) : [];
    this.reporter.report(work, parts.join(", ") + details.join(""));
  }
}

function describeDevice({ machineId, entry, action }: DeviceState): string {
  if (action) return describeAction(action);
  const name = cleanLine(entry?.machine?.computerDnsName ?? machineId, NAME_MAX_CHARS);
  if (entry === undefined) return `${name}: being submitted`;
  if (entry.queued) {
    const { position, of, waitingFor } = entry.queued;
    const what = { device: "its device", session: "a session", submit: "the submit budget" }[waitingFor];
    return `${name}: queued for ${what} (${position} of ${of})`;
  }
  if (entry.withdrawn) return `${name}: withdrawn`;
  return `${name}: not submitted`;
}
