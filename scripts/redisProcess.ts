/**
 * A real redis-server for the benchmarks and the coordination tests: loopback only, nothing persisted,
 * its files in a directory of the caller's.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { stopChild } from "./stopChild.js";

/** Why redis-server cannot be run here, or undefined when it can. */
export function redisServerMissing(): string | undefined {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  return probe.error ? `redis-server is not installed (${probe.error.message})` : undefined;
}

export interface RedisProcess {
  child: ChildProcess;
  /** What it wrote to stderr so far. */
  stderr(): string;
}

/** Starts redis-server on 127.0.0.1:`port`; resolves once it answers PING (5 s at most), else stops it and throws. */
export async function spawnRedisServer(port: number, dir: string): Promise<RedisProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 250; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr}`);
    if (await answersPing(port)) return { child, stderr: () => stderr };
    await sleep(20);
  }
  await stopChild(child);
  throw new Error(`redis-server on port ${port} did not answer PING in 5 s`);
}

/** One PING over a raw socket: true when the server answers +PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d: Buffer) => done(d.toString().startsWith("+PONG")));
  });
}
