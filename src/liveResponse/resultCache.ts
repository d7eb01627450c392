import type { CommandResultData } from "./types.js";

/**
 * Fetched results, by action and command index, so paging through an output costs no API call. A
 * RunScript output can be megabytes, so the texts held are capped (least recently used go first, and
 * are fetched again if asked for); GetFile results are a few fields about a file on disk and always stay,
 * so a collected file is never downloaded twice.
 */
const DEFAULT_MAX_CACHED_CHARS = 64 * 1024 * 1024;

function weight(result: CommandResultData): number {
  return result.type === "RunScript" && "output" in result ? result.output.length + result.errors.length : 0;
}

export class ResultCache {
  private readonly entries = new Map<string, CommandResultData>();
  private chars = 0;

  constructor(private readonly maxChars = DEFAULT_MAX_CACHED_CHARS) {}

  static key(actionId: string, index: number): string {
    return `${actionId.toLowerCase()}:${index}`;
  }

  /** Whether the result is held, without marking it used. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): CommandResultData | undefined {
    const result = this.entries.get(key);
    if (result !== undefined) {
      // Map order is insertion order: re-inserting marks the entry as the most recently used.
      this.entries.delete(key);
      this.entries.set(key, result);
    }
    return result;
  }

  set(key: string, result: CommandResultData): void {
    const previous = this.entries.get(key);
    if (previous !== undefined) this.chars -= weight(previous);
    this.entries.delete(key);
    this.entries.set(key, result);
    this.chars += weight(result);
    for (const [k, v] of this.entries) {
      if (this.chars <= this.maxChars) break;
      const w = weight(v);
      if (w === 0) continue;
      this.entries.delete(k);
      this.chars -= w;
    }
  }
}
