/**
 * The benchmarks and the tests that spawn the built server (dist/cli.js) build it first when it is
 * missing or older than a source file, so a fresh clone and a tree just edited run current code.
 */
import { spawnSync } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const CLI_PATH = join(ROOT, "dist", "cli.js");

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function newestSourceMs(): Promise<number> {
  const dir = join(ROOT, "src");
  const files = await readdir(dir, { recursive: true });
  const times = await Promise.all(files.map((f) => mtimeMs(join(dir, f))));
  return Math.max(0, ...times.map((t) => t ?? 0));
}

/** Why dist/ needs a build, or undefined when it is current. */
async function staleReason(): Promise<string | undefined> {
  const built = await mtimeMs(CLI_PATH);
  if (built === undefined) return "dist/cli.js is missing";
  return (await newestSourceMs()) > built ? "src/ changed since the last build" : undefined;
}

/** Runs the package's build (tsc -p tsconfig.build.json) when dist/ is missing or stale; its output goes to stderr. */
export async function ensureBuilt(): Promise<{ built: boolean; reason: string | undefined }> {
  const reason = await staleReason();
  if (reason === undefined) return { built: false, reason };
  process.stderr.write(`bench: building (${reason})\n`);
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    cwd: ROOT,
    stdio: ["ignore", process.stderr, process.stderr],
  });
  // tsc emits despite type errors; a build that left no cli.js is the one that cannot be benchmarked.
  if ((await mtimeMs(CLI_PATH)) === undefined) {
    throw new Error(`the build did not produce dist/cli.js (tsc exit code ${run.status})`);
  }
  if (run.status !== 0) process.stderr.write(`bench: tsc exited ${run.status}; measuring what it emitted\n`);
  return { built: true, reason };
}
