import type { DevicePath } from "./devicePath.js";

/**
 * A GetFile path pattern of the policy file: a glob, compiled once at load. `*` matches within one
 * segment, `?` one character of a segment, and a whole `**` segment any number of segments. `\` and
 * `/` both separate segments (a pattern has no escapes, so a Windows path reads as written). A pattern
 * starts with a drive (`C:\`, or `*:\` for any drive), with `/` (POSIX), or with `**`. Windows paths
 * match case-insensitively, POSIX paths exactly.
 */
export interface PathPattern {
  source: string;
  matches(path: DevicePath): boolean;
}

export type PathPatternResult = { ok: true; pattern: PathPattern } | { ok: false; problem: string };

const WINDOWS_START = /^[A-Za-z*?]:[\\/]/;
const ANY_START = /^\*\*(?:[\\/]|$)/;

export function compilePathPattern(source: string): PathPatternResult {
  const problem = (text: string): PathPatternResult => ({ ok: false, problem: text });
  let segments: string[];
  if (WINDOWS_START.test(source)) segments = source.split(/[\\/]/);
  else if (source.startsWith("/") && !source.includes("\\")) segments = source.split("/");
  else if (ANY_START.test(source)) segments = source.split(/[\\/]/);
  else {
    return problem("a pattern starts with a drive (C:\\ or *:\\), with / (Linux and macOS), or with **");
  }
  for (const [i, segment] of segments.entries()) {
    const leadingRoot = i === 0 && segment === "";
    if (segment === "" && !leadingRoot)
      return problem("a pattern has no empty segment (doubled or trailing separator)");
    if (segment === "." || segment === "..") return problem("a pattern has no '.' or '..' segment");
    if (segment.includes("**") && segment !== "**") return problem("** stands alone between separators");
    if (i > 0 && segment.includes(":")) return problem("a pattern has no ':' after the drive");
  }
  const body = segments.map((segment, i) => segmentRegex(segment, i === segments.length - 1)).join("");
  const exact = new RegExp(`^${body}$`, "u");
  const caseless = new RegExp(`^${body}$`, "iu");
  return {
    ok: true,
    pattern: {
      source,
      matches: (path) => (path.kind === "windows" ? caseless : exact).test(path.normalized),
    },
  };
}

function segmentRegex(segment: string, last: boolean): string {
  if (segment === "**") return last ? ".*" : "(?:[^/]*/)*";
  const chars = [...segment]
    .map((c) => (c === "*" ? "[^/]*" : c === "?" ? "[^/]" : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return last ? chars : `${chars}/`;
}
