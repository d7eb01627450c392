import { scaleMs } from "../config/time.js";
import type { EndpointName } from "./endpoints.js";
import type { SimClock } from "./simClock.js";
import { SlidingWindow } from "./slidingWindow.js";

/**
 * The API's documented limits (reference §8), enforced per (app, endpoint template) as sliding
 * windows, plus the tenant's cap on running live response sessions. A call is checked after
 * authentication and before its handler; a rejected call never enters a window, so a client that
 * honours Retry-After is admitted exactly when it comes back.
 */

interface WindowRule {
  limit: number;
  windowSeconds: number;
}

const SUBMIT_RULES: readonly WindowRule[] = [{ limit: 10, windowSeconds: 60 }];
const READ_RULES: readonly WindowRule[] = [
  { limit: 100, windowSeconds: 60 },
  { limit: 1500, windowSeconds: 3600 },
];
/** The API gives no hint when a session frees up; a submit window's length is a sensible pause. */
const SESSION_CAP_RETRY_SECONDS = 60;

export type LimitDecision = { ok: true } | { ok: false; retryAfterMs: number; message: string };

export interface ApiLimitsOptions {
  timeScale: number;
  clock: SimClock;
  sessionCap: number;
  activeSessions: () => number;
}

export class ApiLimits {
  private readonly windows = new Map<string, SlidingWindow[]>();

  constructor(private readonly options: ApiLimitsOptions) {}

  /** Admits the call (recording it in every window of its endpoint) or says how long to wait. */
  admit(appId: string, endpoint: EndpointName): LimitDecision {
    const now = this.options.clock.now();
    const windows = this.windowsFor(appId, endpoint);
    const waitMs = Math.max(0, ...windows.map((w) => w.waitMs(now)));
    if (waitMs > 0) {
      return {
        ok: false,
        retryAfterMs: waitMs,
        message: `Too many requests: rate limit of ${endpoint} exceeded`,
      };
    }
    if (endpoint === "runliveresponse" && this.options.activeSessions() >= this.options.sessionCap) {
      return {
        ok: false,
        retryAfterMs: scaleMs(SESSION_CAP_RETRY_SECONDS * 1000, this.options.timeScale),
        message: `Too many requests: ${this.options.sessionCap} live response sessions are already running`,
      };
    }
    for (const w of windows) w.record(now);
    return { ok: true };
  }

  reset(): void {
    this.windows.clear();
  }

  private windowsFor(appId: string, endpoint: EndpointName): SlidingWindow[] {
    const key = `${appId}\u0000${endpoint}`;
    let windows = this.windows.get(key);
    if (!windows) {
      const rules = endpoint === "runliveresponse" ? SUBMIT_RULES : READ_RULES;
      windows = rules.map(
        (r) => new SlidingWindow(r.limit, scaleMs(r.windowSeconds * 1000, this.options.timeScale)),
      );
      this.windows.set(key, windows);
    }
    return windows;
  }
}
