import type { ActionPlan } from "./actionPlan.js";
import type { LiveResponseCommand } from "./commandValidation.js";
import {
  actionTimestamp,
  commandTimestamp,
  isFinal,
  type ActionCommandEntity,
  type ActionStatus,
  type MachineActionEntity,
} from "./machineActionEntity.js";
import type { Device } from "./scenario.js";

/** One live response action as the engine stores it: the request, its plan and a cancellation if any. */
export interface ActionRecord {
  id: string;
  device: Device;
  requestor: string;
  comment: string | null;
  commands: readonly LiveResponseCommand[];
  createdMs: number;
  plan: ActionPlan;
  cancellation: { atMs: number; requestor: string; comment: string } | undefined;
}

/** The instant the action stops changing: its cancellation or its planned end. */
function settledMs(record: ActionRecord): number {
  return record.cancellation
    ? Math.min(record.cancellation.atMs, record.plan.final.atMs)
    : record.plan.final.atMs;
}

export function statusAt(record: ActionRecord, nowMs: number): ActionStatus {
  const { plan, cancellation } = record;
  if (cancellation && cancellation.atMs <= nowMs && cancellation.atMs < plan.final.atMs) return "Cancelled";
  if (plan.final.atMs <= nowMs) return plan.final.status;
  if (plan.pickupMs !== undefined && plan.pickupMs <= nowMs) return "InProgress";
  return "Pending";
}

export function isActiveAt(record: ActionRecord, nowMs: number): boolean {
  return !isFinal(statusAt(record, nowMs));
}

/**
 * The entity as a client sees it at `nowMs`. A cancellation freezes the commands as they were at that
 * instant: one that had started keeps its startTime, the rest stay Created with null times.
 */
export function actionEntityAt(record: ActionRecord, nowMs: number): MachineActionEntity {
  const status = statusAt(record, nowMs);
  const visibleUntil = Math.min(nowMs, settledMs(record));
  const events: number[] = [record.createdMs];
  const commands: ActionCommandEntity[] = record.commands.map((command, index) => {
    const planned = record.plan.commands[index];
    const started = planned !== undefined && planned.startMs <= visibleUntil;
    const ended = planned !== undefined && planned.endMs <= visibleUntil;
    if (started) events.push(planned.startMs);
    if (ended) events.push(planned.endMs);
    return {
      index,
      startTime: started ? commandTimestamp(planned.startMs) : null,
      endTime: ended ? commandTimestamp(planned.endMs) : null,
      commandStatus: ended ? planned.outcome : "Created",
      errors: ended ? [...planned.errors] : [],
      command: { type: command.type, params: command.params.map((p) => ({ ...p })) },
    };
  });
  if (record.plan.pickupMs !== undefined && record.plan.pickupMs <= visibleUntil)
    events.push(record.plan.pickupMs);
  const cancelled = status === "Cancelled" ? record.cancellation : undefined;
  const finished = !cancelled && isFinal(status);
  if (cancelled) events.push(cancelled.atMs);
  if (finished) events.push(record.plan.final.atMs);
  return {
    id: record.id,
    type: "LiveResponse",
    title: null,
    requestor: record.requestor,
    requestorComment: record.comment,
    status,
    machineId: record.device.id,
    computerDnsName: record.device.computerDnsName,
    creationDateTimeUtc: actionTimestamp(record.createdMs),
    lastUpdateDateTimeUtc: actionTimestamp(Math.max(...events)),
    cancellationRequestor: cancelled?.requestor ?? null,
    cancellationComment: cancelled?.comment ?? null,
    cancellationDateTimeUtc: cancelled ? actionTimestamp(cancelled.atMs) : null,
    errorHResult: finished ? record.plan.final.errorHResult : 0,
    scope: null,
    externalId: null,
    requestSource: "PublicApi",
    relatedFileInfo: null,
    commands,
    troubleshootInfo: null,
  };
}
