/**
 * Resident set size of another process (the stdio server), read from /proc where there is one and
 * from `ps` elsewhere, once or sampled on an interval to catch the peak of a run.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";

/** The RSS of another process in bytes; undefined when neither /proc nor `ps` can tell. */
export async function processRssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    if (kib !== undefined) return Number(kib) * 1024;
  } catch {
    // No procfs (macOS): ask ps.
  }
  try {
    const { stdout } = await promisify(execFile)("ps", ["-o", "rss=", "-p", String(pid)]);
    const kib = Number(stdout.trim());
    return Number.isFinite(kib) && kib > 0 ? kib * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Lets start-up work that outlives `initialize` (timers, lazy loads) finish before an idle RSS is read. */
export const IDLE_SETTLE_MS = 500;

export interface RssPeak {
  peakBytes: number | undefined;
  samples: number;
}

/** Reads the process's RSS every `intervalMs` until stopped; the peak includes a last read at the stop. */
export function samplePeakRss(pid: number, intervalMs: number): { stop(): Promise<RssPeak> } {
  let peakBytes: number | undefined;
  let samples = 0;
  const take = async (): Promise<void> => {
    const bytes = await processRssBytes(pid);
    if (bytes === undefined) return;
    peakBytes = Math.max(peakBytes ?? 0, bytes);
    samples += 1;
  };
  let pending = Promise.resolve();
  const timer = setInterval(() => {
    pending = pending.then(take);
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      await take();
      return { peakBytes, samples };
    },
  };
}
