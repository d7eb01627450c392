import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../../scripts/freePort.js";
import { redisServerMissing, spawnRedisServer } from "../../scripts/redisProcess.js";
import { stopChild } from "../../scripts/stopChild.js";

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

export async function startRedisServer(): Promise<RedisServer> {
  const missing = redisServerMissing();
  if (missing !== undefined) {
    throw new Error(
      `${missing}: the coordination tests need a real Redis 7 (Debian: apt-get install redis-server)`,
    );
  }
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "redis-test-"));
  let child: ChildProcess | undefined;

  const start = async () => {
    child = (await spawnRedisServer(port, dir)).child;
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    // A frozen server only exits once thawed.
    proc.kill("SIGCONT");
    await stopChild(proc);
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
