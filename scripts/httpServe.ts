/**
 * The built server as an operator runs it, `node dist/cli.js serve --transport http --port 0`, all
 * of it built from settings: shared by the benchmarks' replicas and the tests that drive the product.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI_PATH } from "./ensureBuilt.js";
import { stopChild } from "./stopChild.js";

export interface HttpServeProcess {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:41234, from the line it logs once ready (it listens on a free port). */
  url: string;
  /** Its log so far; with `keepLog` false, only up to the ready line. */
  log(): string;
}

/**
 * Spawns the server with exactly `env` and waits for it to be ready. Its log (stderr) is kept for the
 * caller when `keepLog`, otherwise read and dropped once ready, since a pipe nobody reads stalls it.
 */
export async function startHttpServe(
  env: NodeJS.ProcessEnv,
  options: { keepLog: boolean; readyWithinMs?: number },
): Promise<HttpServeProcess> {
  const child = spawn(process.execPath, [CLI_PATH, "serve", "--transport", "http", "--port", "0"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const onData = (d: Buffer): void => {
    log += d.toString();
  };
  child.stderr?.on("data", onData);
  let url: string;
  try {
    url = await readyUrl(child, () => log, options.readyWithinMs ?? 30_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  if (!options.keepLog) {
    child.stderr?.off("data", onData);
    child.stderr?.resume();
  }
  return { child, url, log: () => log };
}

/** The URL in the line the server logs once ready; rejects when it exits or takes longer than `withinMs`. */
function readyUrl(child: ChildProcess, log: () => string, withinMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const settle = (outcome: () => void): void => {
      clearTimeout(timer);
      child.off("exit", onExit);
      child.stderr?.off("data", onData);
      outcome();
    };
    const fail = (why: string): void => settle(() => reject(new Error(`${why}: ${log().slice(-2000)}`)));
    const onExit = (code: number | null): void => fail(`the server exited ${code}`);
    const onData = (): void => {
      const line = log()
        .split("\n")
        .find((l) => l.includes('"msg":"MCP server ready"'));
      if (line !== undefined) settle(() => resolve((JSON.parse(line) as { url: string }).url));
    };
    const timer = setTimeout(() => fail("the server did not get ready"), withinMs);
    child.once("exit", onExit);
    child.stderr?.on("data", onData);
  });
}
