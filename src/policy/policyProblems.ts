import type { Document, LineCounter } from "yaml";
import type { z } from "zod";

type Path = readonly PropertyKey[];

/**
 * Schema issues as lines a person fixes the file from: the field's path as written in the file
 * (`scripts[2].sha256`), its line, and what is expected. A union (`approval: none | all | {…}`)
 * reports the branch the value was meant for, not every branch's complaint.
 */
export function policyProblems(
  issues: readonly z.core.$ZodIssue[],
  doc: Document,
  lines: LineCounter,
): string[] {
  return issues.flatMap((issue) => problemsOf(issue, [], doc, lines));
}

function problemsOf(issue: z.core.$ZodIssue, prefix: Path, doc: Document, lines: LineCounter): string[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) =>
      located([...path, key], doc, lines, "unknown field (a misspelt rule would be ignored)"),
    );
  }
  if (issue.code === "invalid_union") {
    const meant = issue.errors.filter((branch) => !branch.some(isMismatchOfTheWholeValue));
    const [branch] = meant;
    if (meant.length === 1 && branch !== undefined) {
      return branch.flatMap((inner) => problemsOf(inner, path, doc, lines));
    }
    return [located(path, doc, lines, issue.message)];
  }
  return [located(path, doc, lines, issue.message)];
}

/** A branch that rejects the value's very type (a string given to the mapping branch) was not meant. */
const isMismatchOfTheWholeValue = (issue: z.core.$ZodIssue): boolean =>
  (issue.code === "invalid_type" || issue.code === "invalid_value") && issue.path.length === 0;

function located(path: Path, doc: Document, lines: LineCounter, message: string): string {
  const line = lineOf(path, doc, lines);
  return `${formatPath(path)}${line === undefined ? "" : ` (line ${line})`}: ${message}`;
}

/** The line of the nearest node on the path that exists; a missing field points at its parent. */
function lineOf(path: Path, doc: Document, lines: LineCounter): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return undefined;
}

export function formatPath(path: Path): string {
  if (path.length === 0) return "(top level)";
  return path
    .map((segment, i) => {
      if (typeof segment === "number") return `[${segment}]`;
      const key = String(segment);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join("");
}
