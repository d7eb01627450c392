import { Redis } from "ioredis";
import { createLogger, type Logger } from "../logger.js";
import { CoordinationUnavailableError, type UnavailableReason } from "./errors.js";
import type { LuaScript } from "./luaScript.js";

export interface CoordinationRedisOptions {
  /** REDIS_URL (`redis://` or `rediss://`, with credentials if any). Never logged. */
  url: string;
  /** How long a connection attempt may take (real ms: network time is never scaled). */
  connectTimeoutMs?: number;
  /** How long a command may wait for its answer before it fails; a frozen Redis fails calls this fast. */
  commandTimeoutMs?: number;
  /** The longest pause between two reconnection attempts (real ms). */
  maxReconnectDelayMs?: number;
  logger?: Logger;
}

/** What `/readyz` reports for Redis. */
export type CoordinationHealth =
  { available: true; latencyMs: number } | { available: false; reason: UnavailableReason; detail: string };

export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * The one Redis connection of a replica's coordination primitives, set up to fail fast: a command
 * sent while the connection is down is refused at once (no offline queue), one in flight when the
 * connection drops fails instead of being sent again after the reconnect (it may already have run),
 * and one that gets no answer fails after the command timeout. Every failure surfaces as
 * CoordinationUnavailableError. The client reconnects by itself, forever, and scripts the restarted
 * server has forgotten are sent again in full.
 */
export class CoordinationRedis {
  private readonly redis: Redis;
  private readonly logger: Logger;
  private down = false;

  constructor(options: CoordinationRedisOptions) {
    this.logger = (options.logger ?? createLogger()).child({ component: "coordination" });
    const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
    this.redis = new Redis(options.url, {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
    });
    // Without a listener ioredis prints every failed reconnection to the console; one line per outage goes to the log.
    this.redis.on("error", (error: Error) => {
      if (this.down) return;
      this.down = true;
      this.logger.warn(
        { err: { message: error.message } },
        "Redis is unreachable; shared limits and leases refuse until it is back",
      );
    });
    this.redis.on("ready", () => {
      if (!this.down) return;
      this.down = false;
      this.logger.info("Redis is reachable again");
    });
  }

  /** Runs `script` atomically on the server; any failure is a CoordinationUnavailableError. */
  async run(
    script: LuaScript,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    const params = [...keys, ...args];
    try {
      try {
        return await this.redis.evalsha(script.sha, keys.length, ...params);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
        return await this.redis.eval(script.source, keys.length, ...params);
      }
    } catch (error) {
      throw unavailable(error, script.name);
    }
  }

  /** Resolves once connected and ready; CoordinationUnavailableError if that takes longer than `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    if (this.redis.status === "ready") return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.redis.off("ready", onReady);
        reject(
          new CoordinationUnavailableError(
            "disconnected",
            `not connected within ${Math.round(timeoutMs)} ms`,
          ),
        );
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.redis.once("ready", onReady);
    });
  }

  /** One round trip to Redis: whether it answers now, and how fast. */
  async health(): Promise<CoordinationHealth> {
    const started = performance.now();
    try {
      await this.redis.ping();
      return { available: true, latencyMs: performance.now() - started };
    } catch (error) {
      const e = unavailable(error, "ping");
      return { available: false, reason: e.reason, detail: e.message };
    }
  }

  /** Closes the connection; every later call fails with CoordinationUnavailableError. */
  async close(): Promise<void> {
    if (this.redis.status === "end") return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

function unavailable(error: unknown, what: string): CoordinationUnavailableError {
  if (error instanceof CoordinationUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const reason: UnavailableReason =
    message === "Command timed out"
      ? "timeout"
      : error instanceof Error && error.name === "ReplyError"
        ? "redis-error"
        : "disconnected";
  return new CoordinationUnavailableError(reason, `${what}: ${message}`, { cause: error });
}
