import { z } from "zod";
import type { ApprovalPayload } from "../../safety/approvalPayload.js";
import type { PendingApproval } from "../pendingApproval.js";
import { requesterName } from "../pendingApprovals.js";

export const DiffLineSchema = z.strictObject({
  op: z.enum(["same", "added", "removed"]),
  text: z.string(),
});
export type DiffLine = z.infer<typeof DiffLineSchema>;

type Command = ApprovalPayload["commands"][number];

function commandLine(command: Command, index: number): string {
  const n = `command ${index + 1}: ${command.type}`;
  switch (command.type) {
    case "RunScript":
      return `${n} ${command.script_name}${command.args ? ` ${command.args}` : ""}`;
    case "PutFile":
      return `${n} ${command.file_name}`;
    case "GetFile":
      return `${n} ${command.path}`;
  }
}

const commandTarget = (c: Command): string =>
  `${c.type}:${c.type === "RunScript" ? c.script_name : c.type === "PutFile" ? c.file_name : c.path}`.toLowerCase();

/** A request as the lines a reviewer compares: who, each device, each command with its args, the comment. */
export function requestLines(approval: PendingApproval): string[] {
  const { payload } = approval;
  return [
    `requester: ${requesterName(approval)}`,
    ...approval.devices.map((d) => `device: ${d.name ?? "(name unknown)"} (${d.id})`),
    ...payload.commands.map(commandLine),
    ...payload.comment.split("\n").map((line) => `comment: ${line}`),
  ];
}

/** Jaccard similarity of the two requests' line sets: 1 for the same request, 0 for nothing shared. */
export function similarity(a: readonly string[], b: readonly string[]): number {
  const left = new Set(a);
  const right = new Set(b);
  const shared = [...left].filter((line) => right.has(line)).length;
  const union = new Set([...left, ...right]).size;
  return union === 0 ? 0 : shared / union;
}

/** A line diff (longest common subsequence) from `before` to `after`. */
export function lineDiff(before: readonly string[], after: readonly string[]): DiffLine[] {
  const rows = before.length + 1;
  const cols = after.length + 1;
  const lcs = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => lcs[i * cols + j] ?? 0;
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      lcs[i * cols + j] =
        before[i] === after[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const diff: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const b = before[i];
    const a = after[j];
    if (b !== undefined && a !== undefined && b === a) {
      diff.push({ op: "same", text: a });
      i++;
      j++;
    } else if (b !== undefined && (a === undefined || at(i + 1, j) >= at(i, j + 1))) {
      diff.push({ op: "removed", text: b });
      i++;
    } else if (a !== undefined) {
      diff.push({ op: "added", text: a });
      j++;
    }
  }
  return diff;
}

/**
 * The earlier request that most resembles `target`, among those from the same requester or naming
 * one of its devices or the same script, file or path; the most similar (Jaccard over their lines),
 * the newest on a tie. Undefined when no earlier request is related.
 */
export function mostSimilar(
  target: PendingApproval,
  all: readonly PendingApproval[],
): { approval: PendingApproval; similarity: number; diff: DiffLine[] } | undefined {
  const targetLines = requestLines(target);
  const devices = new Set(target.devices.map((d) => d.id));
  const targets = new Set(target.payload.commands.map(commandTarget));
  let best: { approval: PendingApproval; similarity: number; lines: string[] } | undefined;
  for (const other of all) {
    if (other.id === target.id || other.created_at > target.created_at) continue;
    const related =
      requesterName(other) === requesterName(target) ||
      other.devices.some((d) => devices.has(d.id)) ||
      other.payload.commands.some((c) => targets.has(commandTarget(c)));
    if (!related) continue;
    const lines = requestLines(other);
    const score = similarity(targetLines, lines);
    const better =
      best === undefined ||
      score > best.similarity ||
      (score === best.similarity && other.created_at > best.approval.created_at);
    if (better) best = { approval: other, similarity: score, lines };
  }
  if (best === undefined) return undefined;
  return { approval: best.approval, similarity: best.similarity, diff: lineDiff(best.lines, targetLines) };
}
