import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { WorkerConfig, WorkerEvent } from "./workerProtocol.js";

const script = fileURLToPath(new URL("./coordinationWorker.ts", import.meta.url));

/** A replica in a child process (coordinationWorker.ts), seen from the test. */
export interface WorkerProcess {
  readonly name: string;
  readonly events: WorkerEvent[];
  /** Resolves with the first event (from the start) that matches; rejects if the worker exits first or 15 s pass. */
  next(match: (event: WorkerEvent) => boolean, from?: number): Promise<WorkerEvent>;
  send(line: "act" | "stop"): void;
  signal(signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
}

export async function startWorker(config: WorkerConfig): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], {
    env: { ...process.env, LOG_LEVEL: "silent" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const events: WorkerEvent[] = [];
  const listeners = new Set<() => void>();
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    events.push(JSON.parse(line) as WorkerEvent);
    for (const listener of [...listeners]) listener();
  });
  const exited = once(child, "exit").then(() => {
    for (const listener of [...listeners]) listener();
  });
  const worker: WorkerProcess = {
    name: config.name,
    events,
    exited,
    next(match, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`${config.name}: no matching event in 15 s`)),
          15_000,
        );
        const check = () => {
          const found = events.slice(from).find(match);
          if (found) return finish(undefined, found);
          if (child.exitCode !== null || child.signalCode !== null) {
            finish(new Error(`${config.name} exited (${child.exitCode ?? child.signalCode}): ${stderr}`));
          }
        };
        function finish(error: Error | undefined, event?: WorkerEvent): void {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(event!);
        }
        listeners.add(check);
        check();
      });
    },
    send(line) {
      child.stdin?.write(`${line}\n`);
    },
    signal(signal) {
      child.kill(signal);
    },
  };
  await worker.next((e) => e.event === "ready");
  return worker;
}

/** Ends a worker that may be frozen, and waits for it. */
export async function killWorker(worker: WorkerProcess): Promise<void> {
  worker.signal("SIGCONT");
  worker.signal("SIGKILL");
  await worker.exited;
}
