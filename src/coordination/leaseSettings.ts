import { scaleMs } from "../config/time.js";
import { createLogger, type Logger } from "../logger.js";

/** Options every lease-based primitive takes; durations are real ms, divided by the time scale here. */
export interface LeaseSettingsOptions {
  /** Prefix of every Redis key; replicas of one tenant share it (default "mde"). */
  prefix?: string;
  /** A lease's length: how long a dead holder keeps it (default 30 s). Renewed every third of it. */
  leaseMs?: number;
  /** How often a waiter asks again (default a tenth of the lease). */
  pollMs?: number;
  /** MDE_TIME_SCALE. */
  timeScale?: number;
  logger?: Logger;
}

export interface LeaseSettings {
  prefix: string;
  /** Whole ms, as Redis takes them. */
  leaseMs: number;
  pollMs: number;
  logger: Logger;
}

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_PREFIX = "mde";

export function leaseSettings(options: LeaseSettingsOptions, component: string): LeaseSettings {
  const timeScale = options.timeScale ?? 1;
  const leaseMs = Math.max(3, Math.ceil(scaleMs(options.leaseMs ?? DEFAULT_LEASE_MS, timeScale)));
  const pollMs = options.pollMs === undefined ? leaseMs / 10 : scaleMs(options.pollMs, timeScale);
  if (!(pollMs > 0)) throw new RangeError(`pollMs must be a positive duration, got ${options.pollMs}`);
  return {
    prefix: options.prefix ?? DEFAULT_PREFIX,
    leaseMs,
    pollMs,
    logger: (options.logger ?? createLogger()).child({ component }),
  };
}
