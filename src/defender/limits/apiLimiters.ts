import { z } from "zod";
import type { CoordinationRedis } from "../../coordination/coordinationRedis.js";
import { RedisWindows } from "../../coordination/redisWindows.js";
import { ConfigError } from "../../config/settings.js";
import { scaleMs } from "../../config/time.js";
import { createLogger, type Logger } from "../../logger.js";
import type { DefenderEndpoint } from "../errors.js";
import type { LimiterClock } from "./limiterClock.js";
import { RateLimiter, type LimiterSnapshot } from "./rateLimiter.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/**
 * The API's call budgets (reference §8) as settings. Counts are per real minute and hour; the margin
 * is real milliseconds added to every window. All are divided by the time scale when applied.
 */
export const ApiLimitSettingsSchema = z.strictObject({
  /** `POST …/runliveresponse`: 10 calls a minute. */
  submitPerMinute: z.number().int().positive().default(10),
  /** Every other endpoint (get/list actions, result links, cancel, machines, library): 100 a minute … */
  readsPerMinute: z.number().int().positive().default(100),
  /** … and 1,500 an hour. */
  readsPerHour: z.number().int().positive().default(1500),
  /** Jitter allowance added to each window (real ms). */
  safetyMarginMs: z.number().nonnegative().default(500),
});
export type ApiLimitSettings = z.infer<typeof ApiLimitSettingsSchema>;

export const DEFAULT_API_LIMITS: ApiLimitSettings = ApiLimitSettingsSchema.parse({});

/** The documented defaults with `overrides` applied; throws ConfigError naming a bad value. */
export function resolveApiLimits(overrides: Partial<ApiLimitSettings> = {}): ApiLimitSettings {
  const parsed = ApiLimitSettingsSchema.safeParse(overrides);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(limits)"}: ${i.message}`);
    throw new ConfigError(`invalid API limits: ${issues.join("; ")}`);
  }
  return parsed.data;
}

export interface ApiLimitersOptions {
  limits?: Partial<ApiLimitSettings>;
  /** MDE_TIME_SCALE: windows and margin are divided by it (a server's Retry-After never is). */
  timeScale?: number;
  /** Replicas sharing the tenant's budgets through Redis: every call also takes a shared grant. */
  shared?: SharedLimitsOptions | undefined;
  clock?: LimiterClock;
  logger?: Logger;
}

export interface SharedLimitsOptions {
  redis: CoordinationRedis;
  /**
   * The longest an API call can stay in flight before the transport gives up (real ms): a shared
   * place is held that long past its grant while its call has no answer.
   */
  maxCallMs: number;
  /** Prefix of the Redis keys; replicas of one tenant share it. */
  prefix?: string | undefined;
}

export interface ApiLimitersSnapshot {
  submit: LimiterSnapshot;
  reads: LimiterSnapshot;
}

/**
 * The limiters of one tenant's app registration: every API call of every client sharing this object
 * passes through one of them before it is sent. Blob downloads are not API calls and pass none.
 */
export class ApiLimiters {
  readonly settings: ApiLimitSettings;
  /** `runliveresponse`. */
  readonly submit: RateLimiter;
  /** Every other API endpoint, cancel included: the reference gives each 100/min and 1,500/h. */
  readonly reads: RateLimiter;
  /** The budgets every replica shares, when they are shared. */
  readonly sharedWindows: RedisWindows | undefined;

  constructor(options: ApiLimitersOptions = {}) {
    this.settings = resolveApiLimits(options.limits);
    const timeScale = options.timeScale ?? 1;
    const scaled = (ms: number) => scaleMs(ms, timeScale);
    const marginMs = scaled(this.settings.safetyMarginMs);
    const logger = options.logger ?? createLogger();
    const common = {
      marginMs,
      // A 429 without a usable Retry-After: assume the API's minute just filled up.
      fallbackPauseMs: scaled(MINUTE_MS) + marginMs,
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
    };
    const windows = {
      submit: [{ limit: this.settings.submitPerMinute, windowMs: MINUTE_MS }],
      reads: [
        { limit: this.settings.readsPerMinute, windowMs: MINUTE_MS },
        { limit: this.settings.readsPerHour, windowMs: HOUR_MS },
      ],
    };
    const shared = options.shared;
    this.sharedWindows =
      shared &&
      new RedisWindows(shared.redis, {
        budgets: windows,
        marginMs: this.settings.safetyMarginMs,
        maxCallMs: shared.maxCallMs,
        timeScale,
        logger,
        ...(shared.prefix === undefined ? {} : { prefix: shared.prefix }),
      });
    const sharedBudget = (budget: string) =>
      this.sharedWindows && { shared: { windows: this.sharedWindows, budget } };
    this.submit = new RateLimiter({
      name: "submit",
      windows: windows.submit.map((w) => ({ ...w, windowMs: scaled(w.windowMs) })),
      ...common,
      ...sharedBudget("submit"),
    });
    this.reads = new RateLimiter({
      name: "reads",
      windows: windows.reads.map((w) => ({ ...w, windowMs: scaled(w.windowMs) })),
      ...common,
      ...sharedBudget("reads"),
    });
  }

  /** The limiter whose budget a call to `endpoint` spends. */
  forEndpoint(endpoint: DefenderEndpoint): RateLimiter {
    return endpoint === "runLiveResponse" ? this.submit : this.reads;
  }

  snapshot(): ApiLimitersSnapshot {
    return { submit: this.submit.snapshot(), reads: this.reads.snapshot() };
  }

  /** Rejects every call still waiting for admission, and every later one. */
  async stop(): Promise<void> {
    await Promise.all([this.submit.stop(), this.reads.stop()]);
    this.sharedWindows?.close();
  }
}
