import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

/**
 * A real redis-server of its own for one test file, on a free loopback port, with no persistence:
 * a restart comes back empty, as a Redis without AOF does in production. It can be stopped, started
 * again on the same port, killed, or frozen.
 */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A plain client for the test's own look and faults (FLUSHALL, SCRIPT FLUSH); it waits through restarts. */
  readonly admin: Redis;
  /** Shuts the server down (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, and waits until it answers PING. */
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open and nothing answers. */
  freeze(): void;
  /** Thaws a frozen server (SIGCONT). */
  thaw(): void;
  /** Stops the server for good and closes the admin client. */
  close(): Promise<void>;
}

const MISSING =
  "redis-server is not installed: the coordination tests need a real Redis 7 (Debian: apt-get install redis-server)";

export async function startRedisServer(): Promise<RedisServer> {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error) throw new Error(`${MISSING} (${probe.error.message})`);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "redis-test-"));
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child = proc;
    for (let i = 0; i < 250; i++) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${stderr}`);
      if (await answersPing(port)) return;
      await sleep(20);
    }
    throw new Error(`redis-server on port ${port} did not answer PING in 5 s`);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill("SIGCONT");
    proc.kill("SIGTERM");
    await exited;
  };

  await start();
  const admin = new Redis({ port, host: "127.0.0.1", lazyConnect: false, maxRetriesPerRequest: null });
  admin.on("error", () => undefined);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    admin,
    stop,
    start,
    freeze: () => void child?.kill("SIGSTOP"),
    thaw: () => void child?.kill("SIGCONT"),
    close: async () => {
      admin.disconnect();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
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
