import { z } from "zod";
import { scaleMs } from "../config/time.js";
import { ENDPOINT_NAMES, type EndpointName } from "./endpoints.js";
import type { SimClock } from "./simClock.js";
import { SlidingWindow } from "./slidingWindow.js";

/**
 * What the simulator saw, in the terms a client's guarantees are checked against: calls and 429s per
 * endpoint, the most submits that ever fell in one minute, the most sessions at once, submits that
 * created the same (device, comment) twice, and bearer tokens sent where they must not go.
 * Injected faults are counted apart, so `throttled` only counts limits the client ran into itself.
 */
const countsByEndpoint = z.record(z.string(), z.number().int());

export const SimulatorStatsSchema = z.object({
  calls: countsByEndpoint,
  /** Calls by who made them: the user's UPN for a delegated token, `app:<client id>` for an app's. */
  callers: z.record(z.string(), z.number().int()),
  /** Calls refused with 401: no token, a bad one, or one for another resource. */
  unauthorized: z.number().int(),
  throttled: countsByEndpoint,
  throttledTotal: z.number().int(),
  submitsAccepted: z.number().int(),
  maxSubmitsInAnyWindow: z.number().int(),
  activeSessions: z.number().int(),
  maxActiveSessions: z.number().int(),
  duplicateSubmissions: z.number().int(),
  blobRequestsWithAuthorization: z.number().int(),
  tokens: z.object({ issued: z.number().int(), refused: z.number().int() }),
  faultsInjected: z.object({
    errors: z.number().int(),
    resets: z.number().int(),
    malformed: z.number().int(),
    throttled: z.number().int(),
  }),
});
export type SimulatorStats = z.infer<typeof SimulatorStatsSchema>;

export type InjectedFault = keyof SimulatorStats["faultsInjected"];

const SUBMIT_WINDOW_SECONDS = 60;

export interface StatsSources {
  sessions: () => { active: number; max: number };
  tokens: () => { issued: number; refused: number };
}

export class StatsRecorder {
  private calls = zeroCounts();
  private callers = new Map<string, number>();
  private unauthorizedCalls = 0;
  private throttled = zeroCounts();
  private submitsAccepted = 0;
  private maxSubmitsInAnyWindow = 0;
  private readonly submitWindow: SlidingWindow;
  private readonly createdKeys = new Set<string>();
  private duplicateSubmissions = 0;
  private blobRequestsWithAuthorization = 0;
  private faults = { errors: 0, resets: 0, malformed: 0, throttled: 0 };

  constructor(
    private readonly clock: SimClock,
    timeScale: number,
    private readonly sources: StatsSources,
  ) {
    this.submitWindow = new SlidingWindow(Infinity, scaleMs(SUBMIT_WINDOW_SECONDS * 1000, timeScale));
  }

  call(endpoint: EndpointName): void {
    this.calls[endpoint] += 1;
  }

  caller(who: string): void {
    this.callers.set(who, (this.callers.get(who) ?? 0) + 1);
  }

  unauthorized(): void {
    this.unauthorizedCalls += 1;
  }

  throttle(endpoint: EndpointName): void {
    this.throttled[endpoint] += 1;
  }

  /** A runliveresponse call passed the limits; the window ending now is the only one that can set a new maximum. */
  submitAdmitted(): void {
    const now = this.clock.now();
    this.submitWindow.record(now);
    this.maxSubmitsInAnyWindow = Math.max(this.maxSubmitsInAnyWindow, this.submitWindow.count(now));
  }

  /** A submit answered 2xx; `created` is false when the API handed back an existing action. */
  submitAccepted(machineId: string, comment: string | null, created: boolean): void {
    this.submitsAccepted += 1;
    if (!created) return;
    const key = JSON.stringify([machineId, comment]);
    if (this.createdKeys.has(key)) this.duplicateSubmissions += 1;
    else this.createdKeys.add(key);
  }

  blobWithAuthorization(): void {
    this.blobRequestsWithAuthorization += 1;
  }

  faultInjected(kind: InjectedFault): void {
    this.faults[kind] += 1;
  }

  snapshot(): SimulatorStats {
    const sessions = this.sources.sessions();
    return {
      calls: { ...this.calls },
      callers: Object.fromEntries(this.callers),
      unauthorized: this.unauthorizedCalls,
      throttled: { ...this.throttled },
      throttledTotal: Object.values(this.throttled).reduce((a, b) => a + b, 0),
      submitsAccepted: this.submitsAccepted,
      maxSubmitsInAnyWindow: this.maxSubmitsInAnyWindow,
      activeSessions: sessions.active,
      maxActiveSessions: sessions.max,
      duplicateSubmissions: this.duplicateSubmissions,
      blobRequestsWithAuthorization: this.blobRequestsWithAuthorization,
      tokens: this.sources.tokens(),
      faultsInjected: { ...this.faults },
    };
  }

  reset(): void {
    this.calls = zeroCounts();
    this.callers.clear();
    this.unauthorizedCalls = 0;
    this.throttled = zeroCounts();
    this.submitsAccepted = 0;
    this.maxSubmitsInAnyWindow = 0;
    this.submitWindow.clear();
    this.createdKeys.clear();
    this.duplicateSubmissions = 0;
    this.blobRequestsWithAuthorization = 0;
    this.faults = { errors: 0, resets: 0, malformed: 0, throttled: 0 };
  }
}

function zeroCounts(): Record<EndpointName, number> {
  return Object.fromEntries(ENDPOINT_NAMES.map((n) => [n, 0])) as Record<EndpointName, number>;
}
