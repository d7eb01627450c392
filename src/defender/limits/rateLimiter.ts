import { setMaxListeners } from "node:events";
import Bottleneck from "bottleneck";
import { CoordinationUnavailableError } from "../../coordination/errors.js";
import type { RedisWindows } from "../../coordination/redisWindows.js";
import { createLogger, type Logger } from "../../logger.js";
import { systemLimiterClock, type LimiterClock } from "./limiterClock.js";
import { SlidingWindowLog } from "./slidingWindow.js";
import { ThrottleGate, type Probe } from "./throttleGate.js";

/** A quota: at most `limit` calls in any `windowMs` (already divided by the time scale). */
export interface WindowRule {
  limit: number;
  windowMs: number;
}

export interface RateLimiterOptions {
  /** Names the limiter in logs and snapshots, e.g. "submit". */
  name: string;
  /** Every rule must have room for a call to start. */
  windows: readonly WindowRule[];
  /** Added to every window (see SlidingWindowLog); already divided by the time scale. */
  marginMs: number;
  /** How long the gate stays closed after a 429 without a usable Retry-After. */
  fallbackPauseMs: number;
  /** Replicas share this budget: every admission also takes a grant from these shared windows. */
  shared?: SharedBudget | undefined;
  clock?: LimiterClock;
  logger?: Logger;
}

/** A budget kept by every replica together (see RedisWindows). */
export interface SharedBudget {
  windows: RedisWindows;
  /** The budget's name in `windows`. */
  budget: string;
  /** How soon to ask again while the shared store is unreachable (real ms, default 500). */
  unavailableRetryMs?: number;
}

export const DEFAULT_UNAVAILABLE_RETRY_MS = 500;
/** How soon a call that is not ready looks again (real ms; it also wakes on any change here). */
const NOT_READY_RETRY_MS = 20;

/** A retry goes ahead of calls that have not been tried yet, so it keeps (nearly) the place it had. */
export type AdmissionPriority = "normal" | "retry";

export interface RunOptions {
  /** Aborting it while the call still waits for admission takes the call out of the queue; it uses no place. */
  signal?: AbortSignal | undefined;
  priority?: AdmissionPriority;
  /**
   * The call is admitted only while this is true (e.g. the replica still holds the shared session
   * slot the call needs): it is checked right before admission, synchronously with it. Meanwhile the
   * call keeps its place and looks again on any change here, or every NOT_READY_RETRY_MS.
   */
  ready?: (() => boolean) | undefined;
}

export interface WindowSnapshot {
  limit: number;
  windowMs: number;
  /** Calls holding a place now. */
  occupied: number;
  /** The most calls that started within one window, ever. */
  maxStartedInAnyWindow: number;
}

export interface LimiterSnapshot {
  name: string;
  /** Calls waiting for admission. */
  queued: number;
  /** Admitted calls that have no answer yet. */
  inFlight: number;
  /** Calls admitted since the limiter was made. */
  admitted: number;
  /** 429 answers that closed the gate. */
  throttled: number;
  windows: WindowSnapshot[];
  /** On the limiter's clock; null when no pause is in force. */
  gateClosedUntil: number | null;
  /** A probe is out after a pause; the other calls wait for its answer. */
  probing: boolean;
  /** Present when replicas share the budget: why the shared store cannot grant now (null while it can). */
  shared?: { unavailable: string | null };
}

/** A call left the queue without being admitted: its caller aborted, or the limiter was stopped. */
export class AdmissionCancelledError extends Error {
  override readonly name = "AdmissionCancelledError";
  readonly code: "ADMISSION_ABORTED" | "LIMITER_STOPPED";
  readonly limiter: string;

  constructor(code: AdmissionCancelledError["code"], limiter: string) {
    super(
      code === "ADMISSION_ABORTED"
        ? `the call was cancelled while it waited for the ${limiter} limiter; it was not sent`
        : `the ${limiter} limiter was stopped before the call could be sent`,
    );
    this.code = code;
    this.limiter = limiter;
  }
}

interface Ticket {
  probe: Probe | undefined;
  /** The call's id in the shared windows, when it took a shared grant. */
  sharedCall: string | undefined;
}

const BOTTLENECK_PRIORITY: Record<AdmissionPriority, number> = { retry: 1, normal: 5 };

/**
 * Admits calls to one API budget: sliding windows decide when a call may start, a gate holds every
 * call after a 429, and Bottleneck orders the calls that have to wait.
 *
 * Bottleneck runs with `maxConcurrent: 1` and its job is only the wait for admission; the call itself
 * runs after the job is done. So one admission decision is made at a time, in Bottleneck's order
 * (priority, then arrival), and neither Bottleneck's `failed` retries nor an `expiration` can ever
 * re-send a request: it never holds one. Over a plain priority queue Bottleneck adds nothing but that
 * ordering and a clean `stop()`; its reservoir is not used, since a refilled reservoir is a fixed
 * window (20 calls around a refill), and its timers cannot see the calls still in flight.
 *
 * While nobody waits and there is room, a call is admitted at once without a Bottleneck job, so a
 * burst of `limit` calls goes out together rather than at Bottleneck's pace of a few ms per job.
 *
 * A shared budget (replicas behind Redis) adds one step: once the local windows have room, the call
 * at the head of the queue asks the shared windows for a grant, and stays at the head until it gets
 * one. While Redis cannot answer, nothing is admitted (the limiter never guesses); the snapshot says
 * why, and admission resumes by itself when Redis is back.
 */
export class RateLimiter {
  readonly name: string;
  private readonly windows: SlidingWindowLog[];
  private readonly gate = new ThrottleGate();
  private readonly scheduler = new Bottleneck({ maxConcurrent: 1 });
  private readonly clock: LimiterClock;
  private readonly logger: Logger;
  private readonly fallbackPauseMs: number;
  /** One listener per queued call (removed when it leaves), so a long queue is no leak. */
  private readonly stopping = unboundedAbortController();
  private waiting = 0;
  private inFlight = 0;
  private admitted = 0;
  private throttled = 0;
  private readonly shared: SharedBudget | undefined;
  private sharedCalls = 0;
  private sharedUnavailableReason: string | null = null;
  /** A 429's closing of the shared gate, under way: the call that met it settles after it. */
  private recording: Promise<unknown> | undefined;
  private announceChange: () => void = () => undefined;
  private changed: Promise<void> = this.nextChange();

  constructor(options: RateLimiterOptions) {
    if (options.windows.length === 0) throw new RangeError("a rate limiter needs at least one window");
    if (!(options.fallbackPauseMs >= 0)) throw new RangeError("fallbackPauseMs must be a duration from 0");
    this.name = options.name;
    this.windows = options.windows.map((w) => new SlidingWindowLog(w.limit, w.windowMs, options.marginMs));
    this.fallbackPauseMs = options.fallbackPauseMs;
    this.shared = options.shared;
    this.clock = options.clock ?? systemLimiterClock;
    this.logger = (options.logger ?? createLogger()).child({ limiter: options.name });
    this.scheduler.on("error", (error: unknown) => {
      this.logger.error({ err: error }, "rate limiter scheduler error");
    });
  }

  /**
   * Runs `task` (one request to the API) once it is admitted, and dates its place in the windows
   * when it settles. A task that meets a 429 calls `pause` before it returns, so no queued call is
   * admitted in between.
   */
  async run<T>(task: () => Promise<T>, options: RunOptions = {}): Promise<T> {
    const ticket = this.admitAtOnce(options) ?? (await this.enqueue(options));
    try {
      return await task();
    } finally {
      if (this.recording) await this.recording;
      this.settle(ticket);
    }
  }

  /**
   * The API answered 429: hold every call of this limiter for `retryAfterMs` (the server's value, as
   * sent: wall-clock, never scaled) or, without one, for the fallback pause.
   */
  pause(retryAfterMs: number | undefined): void {
    const forMs = retryAfterMs ?? this.fallbackPauseMs;
    this.throttled += 1;
    this.gate.close(this.clock.now(), forMs);
    if (this.shared) {
      const recorded = this.shared.windows.record429(this.shared.budget, forMs);
      this.recording = recorded;
      void recorded.finally(() => {
        if (this.recording === recorded) this.recording = undefined;
      });
    }
    this.logger.warn(
      { pauseMs: Math.round(forMs), fromServer: retryAfterMs !== undefined },
      "the Defender API answered 429; holding this limiter's calls, then sending one probe",
    );
    this.announce();
  }

  snapshot(): LimiterSnapshot {
    const now = this.clock.now();
    return {
      name: this.name,
      queued: this.waiting,
      inFlight: this.inFlight,
      admitted: this.admitted,
      throttled: this.throttled,
      windows: this.windows.map((w) => ({
        limit: w.limit,
        windowMs: w.windowMs,
        occupied: w.occupied(now),
        maxStartedInAnyWindow: w.maxStartedInAnyWindow,
      })),
      gateClosedUntil: this.gate.closedUntilAt(now),
      probing: this.gate.probeInFlight,
      ...(this.shared ? { shared: { unavailable: this.sharedUnavailableReason } } : {}),
    };
  }

  /** Rejects every waiting call (LIMITER_STOPPED) and every later one; calls in flight finish. */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.scheduler.stop({ dropWaitingJobs: true });
  }

  private admitAtOnce({ signal, ready }: RunOptions): Ticket | undefined {
    if (this.stopping.signal.aborted) throw new AdmissionCancelledError("LIMITER_STOPPED", this.name);
    if (signal?.aborted) throw new AdmissionCancelledError("ADMISSION_ABORTED", this.name);
    // A shared grant takes a round trip to Redis: such calls always queue, one asking at a time.
    if (this.shared) return undefined;
    const now = this.clock.now();
    return this.waiting === 0 && this.waitMs(now, ready) === 0 ? this.admit(now, undefined) : undefined;
  }

  private enqueue(options: RunOptions): Promise<Ticket> {
    return new Promise<Ticket>((resolve, reject) => {
      const cancel = new AbortController();
      let open = true;
      this.waiting += 1;
      // Exactly one of admission, abort and stop ends the wait, each synchronously: a call is
      // never both admitted and cancelled.
      const leave = (): boolean => {
        if (!open) return false;
        open = false;
        this.waiting -= 1;
        options.signal?.removeEventListener("abort", onAbort);
        this.stopping.signal.removeEventListener("abort", onStop);
        return true;
      };
      const cancelWith = (code: AdmissionCancelledError["code"]) => () => {
        if (!leave()) return;
        cancel.abort();
        reject(new AdmissionCancelledError(code, this.name));
      };
      const onAbort = cancelWith("ADMISSION_ABORTED");
      const onStop = cancelWith("LIMITER_STOPPED");
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.stopping.signal.addEventListener("abort", onStop, { once: true });

      const priority = BOTTLENECK_PRIORITY[options.priority ?? "normal"];
      this.scheduler
        .schedule({ priority }, () =>
          this.admitWhenReady(cancel.signal, options.ready, (ticket) => {
            if (leave()) resolve(ticket);
          }),
        )
        // Only a drop by stop() lands here, after onStop has already answered the caller.
        .catch(() => undefined);
    });
  }

  /** The Bottleneck job: waits until the windows and the gate have room, then admits at once. */
  private async admitWhenReady(
    cancelled: AbortSignal,
    ready: (() => boolean) | undefined,
    admitted: (ticket: Ticket) => void,
  ): Promise<void> {
    for (;;) {
      if (cancelled.aborted) return;
      const now = this.clock.now();
      const waitMs = this.waitMs(now, ready);
      if (waitMs > 0) {
        await this.wakeAfter(waitMs, cancelled);
        continue;
      }
      if (this.shared === undefined) {
        admitted(this.admit(now, undefined));
        return;
      }
      const callId = `${this.name}-${++this.sharedCalls}`;
      const retryInMs = await this.askShared(this.shared, callId);
      if (retryInMs > 0) {
        await this.wakeAfter(retryInMs, cancelled);
        continue;
      }
      if (cancelled.aborted || ready?.() === false) {
        // Its caller left, or it stopped being ready, while the grant was on its way: the place is dated from now, unused.
        void this.shared.windows.settle(this.shared.budget, callId);
        if (cancelled.aborted) return;
        continue;
      }
      admitted(this.admit(this.clock.now(), callId));
      return;
    }
  }

  /** 0 when the shared windows granted `callId`; else how long to wait before asking again. */
  private async askShared(shared: SharedBudget, callId: string): Promise<number> {
    try {
      const decision = await shared.windows.tryAcquire(shared.budget, callId);
      if (this.sharedUnavailableReason !== null) {
        this.sharedUnavailableReason = null;
        this.logger.info("the shared coordination store answers again; admitting calls");
      }
      return decision.granted ? 0 : Math.max(1, decision.retryInMs);
    } catch (error) {
      if (!(error instanceof CoordinationUnavailableError)) throw error;
      if (this.sharedUnavailableReason === null) {
        this.logger.warn(
          { reason: error.reason },
          "the shared coordination store (Redis) is unreachable; no call of this budget is sent until it is back",
        );
      }
      this.sharedUnavailableReason = `the shared coordination store (Redis) is unreachable (${error.reason})`;
      return shared.unavailableRetryMs ?? DEFAULT_UNAVAILABLE_RETRY_MS;
    }
  }

  /** Sleeps `ms`, but wakes early when a call settles or the gate changes, or on cancellation. */
  private async wakeAfter(ms: number, cancelled: AbortSignal): Promise<void> {
    const wake = new AbortController();
    const onCancel = () => wake.abort();
    cancelled.addEventListener("abort", onCancel, { once: true });
    try {
      await Promise.race([this.clock.sleep(ms, wake.signal), this.changed]);
    } finally {
      cancelled.removeEventListener("abort", onCancel);
      wake.abort();
    }
  }

  private waitMs(now: number, ready: (() => boolean) | undefined): number {
    const held = ready?.() === false ? NOT_READY_RETRY_MS : 0;
    return Math.max(held, this.gate.waitMs(now), ...this.windows.map((w) => w.waitMs(now)));
  }

  private admit(now: number, sharedCall: string | undefined): Ticket {
    for (const w of this.windows) w.start(now);
    this.admitted += 1;
    this.inFlight += 1;
    return { probe: this.gate.pass(), sharedCall };
  }

  private settle(ticket: Ticket): void {
    if (this.shared && ticket.sharedCall !== undefined) {
      void this.shared.windows.settle(this.shared.budget, ticket.sharedCall);
    }
    const now = this.clock.now();
    for (const w of this.windows) w.settle(now);
    this.inFlight -= 1;
    if (ticket.probe) this.gate.probeSettled(ticket.probe);
    this.announce();
  }

  private announce(): void {
    this.announceChange();
    this.changed = this.nextChange();
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => {
      this.announceChange = resolve;
    });
  }
}

function unboundedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
