import { open } from "node:fs/promises";
import { z } from "zod";
import {
  ArtifactSchema,
  AuditCommandSchema,
  AuditMachineSchema,
  AuditRecordSchema,
  type AuditRecord,
} from "../../audit/auditRecord.js";

/** The history shows the newest requests only; the audit log itself keeps them all. */
const MAX_ENTRIES = 100;
/** Read from the log's end: enough for far more than MAX_ENTRIES requests, cheap for a long log. */
const MAX_READ_BYTES = 8 * 1024 * 1024;

const CommandOutcomeSchema = z.strictObject({
  index: z.number(),
  exit_code: z.number().nullable(),
  artifacts: z.array(ArtifactSchema),
});

const ActionOutcomeSchema = z.strictObject({
  action_id: z.string().nullable(),
  machine_id: z.string(),
  status: z.string().nullable(),
  commands: z.array(CommandOutcomeSchema),
});

/** One request and what became of it, as the audit log tells it. */
export const HistoryEntrySchema = z.strictObject({
  request_id: z.string(),
  time: z.string(),
  tool: z.string(),
  requester: z.string(),
  comment: z.string(),
  machines: z.array(AuditMachineSchema),
  commands: z.array(AuditCommandSchema),
  /** requested: still waiting; given / refused: the decision, with the reviewer when one decided. */
  approval: z
    .strictObject({
      state: z.enum(["requested", "given", "refused"]),
      reviewer: z.string().nullable(),
      reason: z.string().nullable(),
      response: z.string().nullable(),
      time: z.string(),
    })
    .nullable(),
  actions: z.array(ActionOutcomeSchema),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;
type ActionOutcome = z.infer<typeof ActionOutcomeSchema>;

type Timed = AuditRecord & { time: string };

/**
 * Reads the end of the audit log (its last MAX_READ_BYTES: the newest requests); each line that is
 * not a valid record is skipped (`audit verify` reports it).
 */
async function readRecords(path: string): Promise<Timed[]> {
  let text: string;
  try {
    const file = await open(path, "r");
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - MAX_READ_BYTES);
      const buffer = Buffer.alloc(size - start);
      await file.read(buffer, 0, buffer.length, start);
      text = buffer.toString("utf8");
      // Started mid-file: the first line is a fragment.
      if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    } finally {
      await file.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const records: Timed[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof entry !== "object" || entry === null) continue;
    const { seq: _seq, time, prev: _prev, hash: _hash, ...record } = entry as Record<string, unknown>;
    const parsed = AuditRecordSchema.safeParse(record);
    if (parsed.success && typeof time === "string") records.push({ ...parsed.data, time });
  }
  return records;
}

/**
 * The newest requests first, each with its approval decision (who, why) and every action's outcome:
 * final status, and per command the exit code and the SHA-256 of each result. Actions are joined by
 * their id, since the shared poller records final statuses under the action's own request id.
 */
export async function readHistory(auditLogPath: string): Promise<HistoryEntry[]> {
  const records = await readRecords(auditLogPath);
  const entries = new Map<string, HistoryEntry>();
  const actions = new Map<string, ActionOutcome>();
  const actionOf = (actionId: string, machineId: string): ActionOutcome => {
    const key = actionId.toLowerCase();
    let action = actions.get(key);
    if (action === undefined) {
      action = { action_id: actionId, machine_id: machineId, status: null, commands: [] };
      actions.set(key, action);
    }
    return action;
  };
  for (const record of records) {
    const entry = entries.get(record.request_id);
    switch (record.kind) {
      case "request":
        entries.set(record.request_id, {
          request_id: record.request_id,
          time: record.time,
          tool: record.tool,
          requester: record.who.principal ?? record.who.client_name,
          comment: record.why,
          machines: record.machines,
          commands: record.commands,
          approval: null,
          actions: [],
        });
        break;
      case "approval_requested":
      case "approval_given":
      case "approval_refused":
        if (entry === undefined) break;
        entry.approval = {
          state:
            record.kind === "approval_requested"
              ? "requested"
              : record.kind === "approval_given"
                ? "given"
                : "refused",
          reviewer: "reviewer" in record ? (record.reviewer ?? null) : null,
          reason: "reason" in record ? (record.reason ?? null) : null,
          response: record.kind === "approval_refused" ? record.response : null,
          time: record.time,
        };
        break;
      case "submitted":
        entry?.actions.push(actionOf(record.action_id, record.machine_id));
        break;
      case "final_status":
        if (record.action_id === null) {
          entry?.actions.push({
            action_id: null,
            machine_id: record.machine_id,
            status: record.status,
            commands: [],
          });
        } else {
          actionOf(record.action_id, record.machine_id).status = record.status;
        }
        break;
      case "result_fetched":
        actionOf(record.action_id, "unknown").commands.push({
          index: record.command_index,
          exit_code: record.exit_code ?? null,
          artifacts: record.artifacts,
        });
        break;
      default:
        break;
    }
  }
  return [...entries.values()].reverse().slice(0, MAX_ENTRIES);
}
