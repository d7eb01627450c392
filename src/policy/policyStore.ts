import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import { loadPolicy, parsePolicy, type LoadedPolicy } from "./loadPolicy.js";
import { PolicyError } from "./policyError.js";
import { DEFAULT_POLICY, type Policy } from "./policySchema.js";

export interface PolicyStoreOptions {
  /** The policy file (MDE_POLICY_FILE); without one, DEFAULT_POLICY applies and nothing is watched. */
  file: string | undefined;
  logger: Logger;
  /**
   * How often the file's size and times are compared, for the changes fs.watch misses (network
   * drives, editors that replace the file). Default 2 s, well inside the promised 5 s.
   */
  statIntervalMs?: number;
}

const DEFAULT_STAT_INTERVAL_MS = 2_000;

/**
 * The policy in force, reloaded when its file changes, without a restart. A new file that is broken
 * (or half-saved, or deleted) never replaces a good policy: the previous one stays and the problems
 * are logged once for each distinct set of problems.
 */
export class PolicyStore {
  private loaded: LoadedPolicy | undefined;
  private readonly listeners = new Set<(policy: Policy) => void>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private signature = "";
  private rejected = "";
  private checking: Promise<void> | undefined;
  private checkAgain = false;
  private closed = false;

  private constructor(private readonly logger: Logger) {}

  /** Loads the file once (a broken file at start is a PolicyError: there is no previous policy to keep). */
  static async open(options: PolicyStoreOptions): Promise<PolicyStore> {
    const store = new PolicyStore(options.logger);
    if (options.file === undefined) return store;
    store.signature = await statSignature(options.file);
    store.loaded = await loadPolicy(options.file);
    store.watch(options.file, options.statIntervalMs ?? DEFAULT_STAT_INTERVAL_MS);
    return store;
  }

  current(): Policy {
    return this.loaded?.policy ?? DEFAULT_POLICY;
  }

  /** SHA-256 of the file the current policy came from; undefined when no file is set. */
  get sha256(): string | undefined {
    return this.loaded?.sha256;
  }

  /** Called with each new policy after a reload; returns the unsubscribe function. */
  onChange(listener: (policy: Policy) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.watcher?.close();
    this.listeners.clear();
    await this.checking;
  }

  private watch(file: string, statIntervalMs: number): void {
    const cannotWatch = (err: unknown): void => {
      this.logger.warn(
        { file, err: err instanceof Error ? err.message : String(err) },
        "cannot watch the policy file; relying on periodic checks",
      );
    };
    // The folder, not the file: an editor that saves by replacing the file would end a file watch.
    try {
      this.watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(file)) this.check(file, true);
      });
      this.watcher.on("error", cannotWatch);
    } catch (err) {
      cannotWatch(err);
    }
    this.timer = setInterval(() => this.check(file, false), statIntervalMs);
    this.timer.unref();
  }

  /** One check at a time; a change noticed during a check runs one more after it. */
  private check(file: string, notified: boolean): void {
    if (this.closed) return;
    if (this.checking !== undefined) {
      this.checkAgain ||= notified;
      return;
    }
    this.checking = this.reload(file, notified).finally(() => {
      this.checking = undefined;
      if (this.checkAgain) {
        this.checkAgain = false;
        this.check(file, true);
      }
    });
  }

  private async reload(file: string, notified: boolean): Promise<void> {
    const signature = await statSignature(file);
    if (!notified && signature === this.signature) return;
    this.signature = signature;
    let next: LoadedPolicy;
    try {
      next = parsePolicy(await readFile(file), file);
    } catch (err) {
      const problems = err instanceof PolicyError ? err.problems : [readFailure(err)];
      this.reject(file, problems);
      return;
    }
    this.rejected = "";
    if (next.sha256 === this.loaded?.sha256) return;
    this.loaded = next;
    this.logger.info({ file, sha256: next.sha256 }, "policy reloaded");
    for (const listener of this.listeners) {
      try {
        listener(next.policy);
      } catch (err) {
        this.logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          "a policy change listener failed",
        );
      }
    }
  }

  /** Logged once per distinct problem list, however often the same broken file is looked at. */
  private reject(file: string, problems: readonly string[]): void {
    const key = problems.join("\n");
    if (key === this.rejected) return;
    this.rejected = key;
    this.logger.error({ file, problems }, "policy file not reloaded: the previous policy stays in force");
  }
}

/** Size, times and inode: a change to any of them is worth reading the file again. */
async function statSignature(file: string): Promise<string> {
  try {
    const s = await stat(file, { bigint: true });
    return `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`;
  } catch (err) {
    return `missing:${readFailure(err)}`;
  }
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined ? String(err) : `cannot read the file (${code})`;
}
