import { randomBytes } from "node:crypto";
import { scaleMs } from "../config/time.js";
import { createLogger, type Logger } from "../logger.js";
import type { CoordinationRedis } from "./coordinationRedis.js";
import { CoordinationUnavailableError } from "./errors.js";
import { DEFAULT_PREFIX } from "./leaseSettings.js";
import { WindowJournal } from "./windowJournal.js";
import { ACQUIRE, RECORD_429, RESEED, SETTLE, SYNC, USAGE } from "./windowScripts.js";

/** At most `limit` calls in any `windowMs` (real ms; divided by the time scale). */
export interface BudgetWindow {
  limit: number;
  windowMs: number;
}

export interface RedisWindowsOptions {
  /** Named budgets, each with every window a call must have room in (e.g. reads: 100/min and 1,500/h). */
  budgets: Readonly<Record<string, readonly BudgetWindow[]>>;
  /** Added to every window for network jitter and clock rates (real ms, default 500). */
  marginMs?: number;
  /**
   * The longest a call can stay in flight before its transport gives up (default 120 s). A place is
   * dated from grant plus this until the call settles. Network time: never scaled.
   */
  maxCallMs?: number;
  /** How soon to ask again while another replica's probe is out (real ms, default 2 s). */
  probePollMs?: number;
  /** Prefix of every Redis key; replicas of one tenant share it (default "mde"). */
  prefix?: string;
  /** MDE_TIME_SCALE: windows, margin and probe poll are divided by it. */
  timeScale?: number;
  logger?: Logger;
}

export type WindowRefusalReason =
  /** A window is full: `retryInMs` is when the place that makes room leaves it. */
  | "window"
  /** A 429 closed the gate for every replica until the server's Retry-After has passed. */
  | "gate"
  /** After a 429, another call is the one probe; the rest wait for its answer. */
  | "probe"
  /** Redis came back without the log; no grant until the shortest window has passed. */
  | "recovering";

/** `at`: the Redis server's clock (ms) when the decision was made. */
export type WindowDecision =
  | { granted: true; probe: boolean; at: number }
  | { granted: false; reason: WindowRefusalReason; retryInMs: number; at: number };

export interface WindowUsage {
  windows: Array<{ limit: number; windowMs: number; occupied: number }>;
  /** Scaled ms until the gate opens; 0 when it is open. */
  gateClosedForMs: number;
  probing: boolean;
  /** Scaled ms until grants resume after Redis lost the log; 0 when they are not held. */
  recoveringForMs: number;
}

interface Budget {
  name: string;
  /** [log, state], in one hash slot. */
  keys: [string, string];
  windows: Array<{ limit: number; windowMs: number; holdMs: number }>;
  /** (limit, hold ms) per window, as the scripts take them. */
  windowArgs: number[];
  longestHoldMs: number;
  /** How long grants wait after Redis lost the log: the shortest window and margin. */
  recoveryMs: number;
  journal: WindowJournal;
  /** The epoch of the log this replica last saw complete; undefined before its first call. */
  epoch: string | undefined;
}

export const DEFAULT_MARGIN_MS = 500;
export const DEFAULT_MAX_CALL_MS = 120_000;
export const DEFAULT_PROBE_POLL_MS = 2_000;
const BUDGET_NAME = /^[A-Za-z0-9_.-]+$/;
/** A reply that keeps asking for a re-seed means the epoch moves faster than we can follow. */
const MAX_RESEEDS_PER_CALL = 3;

/**
 * Sliding windows shared by every replica: before each call, a replica asks for a grant, and one
 * atomic script on the Redis server's clock decides from the budget's log (no clock skew between
 * replicas). A place is held from grant until a window and the margin after the call settled, as
 * in the in-process SlidingWindowLog, so no window of any alignment, seen by the server at any
 * instant between send and answer, holds more than the limit. A 429 closes the budget's gate for
 * every replica; when it opens, exactly one call (the probe) is granted until its answer is in.
 *
 * A Redis that comes back empty (restart, FLUSHALL, failover to an empty replica) must not reopen the
 * windows early. The log's state carries an epoch; a script that finds it missing starts a new one and
 * refuses grants for the budget's shortest window plus margin (`recovering`), and each replica, on
 * seeing the new epoch (on its next call, or its heartbeat every quarter of that time while it has
 * places that still count), writes back the places it took itself and the gate it knew closed. So
 * the short windows are safe even against replicas that died before the loss, and the longer ones
 * are rebuilt from every replica still alive. A Redis with no state at all is treated the same way:
 * the first grant comes one short window after the first ask.
 *
 * Redis must not evict these keys: run it with `maxmemory-policy noeviction` (the default).
 */
export class RedisWindows {
  private readonly budgets = new Map<string, Budget>();
  private readonly instanceId = randomBytes(9).toString("base64url");
  private readonly maxCallMs: number;
  private readonly probePollMs: number;
  private readonly heartbeatMs: number;
  private readonly logger: Logger;
  private heartbeat: NodeJS.Timeout | undefined;
  private beating = false;
  private closed = false;

  constructor(
    private readonly redis: CoordinationRedis,
    options: RedisWindowsOptions,
  ) {
    const timeScale = options.timeScale ?? 1;
    const scaled = (ms: number) => scaleMs(ms, timeScale);
    const marginMs = scaled(options.marginMs ?? DEFAULT_MARGIN_MS);
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    this.maxCallMs = Math.ceil(options.maxCallMs ?? DEFAULT_MAX_CALL_MS);
    this.probePollMs = Math.max(1, Math.ceil(scaled(options.probePollMs ?? DEFAULT_PROBE_POLL_MS)));
    this.logger = (options.logger ?? createLogger()).child({ component: "redis-windows" });
    if (!(marginMs >= 0) || !(this.maxCallMs >= 0)) {
      throw new RangeError("marginMs and maxCallMs must be durations from 0");
    }
    for (const [name, rules] of Object.entries(options.budgets)) {
      this.budgets.set(name, budgetFrom(name, rules, { prefix, marginMs, scaled }));
    }
    if (this.budgets.size === 0) throw new RangeError("RedisWindows needs at least one budget");
    this.heartbeatMs = Math.max(1, Math.min(...[...this.budgets.values()].map((b) => b.recoveryMs)) / 4);
  }

  /**
   * Asks for a place for one call of `budget`. `callId` names the call for `settle` and must be
   * unique within this object. A granted call must be settled when it has its answer (or failed);
   * one that never is holds its place for maxCallMs longer. Throws CoordinationUnavailableError at
   * once while Redis is unreachable: the caller must not send.
   */
  async tryAcquire(budgetName: string, callId: string): Promise<WindowDecision> {
    const budget = this.budget(budgetName);
    const member = this.member(callId);
    for (let reseeds = 0; reseeds <= MAX_RESEEDS_PER_CALL; reseeds++) {
      const reply = (await this.redis.run(ACQUIRE, budget.keys, [
        member,
        budget.epoch ?? "",
        newEpoch(),
        budget.recoveryMs,
        this.maxCallMs,
        this.probePollMs,
        ...budget.windowArgs,
      ])) as [string, number | string, number, number];
      const [kind, first, second, third] = reply;
      if (kind === "reseed") {
        await this.reseed(budget, String(first));
        continue;
      }
      if (kind === "granted") {
        budget.journal.record(member, third, second);
        this.startHeartbeat();
        return { granted: true, probe: first === 1, at: second };
      }
      const reason = first as WindowRefusalReason;
      if (reason === "gate") budget.journal.gateClosed(third + second);
      return { granted: false, reason, retryInMs: Number(second), at: third };
    }
    throw new CoordinationUnavailableError("redis-error", `the ${budgetName} log kept losing its state`);
  }

  /**
   * The granted call `callId` has its answer (or failed): its place is dated from now. Never throws;
   * false when Redis could not take it, and the place then keeps its in-flight date, which only
   * holds it longer.
   */
  async settle(budgetName: string, callId: string): Promise<boolean> {
    const budget = this.budget(budgetName);
    const member = this.member(callId);
    try {
      const now = Number(await this.redis.run(SETTLE, budget.keys, [member]));
      budget.journal.record(member, now, now);
      return true;
    } catch (error) {
      this.warn(error, budgetName, "could not date a settled call in the shared window");
      return false;
    }
  }

  /**
   * The API answered 429: closes `budget`'s gate for every replica for `retryAfterMs` (the server's
   * value, as sent; never scaled). Call it before settling the call that met the 429. Never throws;
   * false when Redis could not take it (the caller's own limiter still pauses).
   */
  async record429(budgetName: string, retryAfterMs: number): Promise<boolean> {
    const budget = this.budget(budgetName);
    try {
      const until = Number(
        await this.redis.run(RECORD_429, budget.keys, [Math.ceil(Math.max(0, retryAfterMs))]),
      );
      budget.journal.gateClosed(until);
      return true;
    } catch (error) {
      this.warn(error, budgetName, "could not close the shared gate after a 429");
      return false;
    }
  }

  /** Places held now in each window of `budget`, and the gate: for metrics. Throws CoordinationUnavailableError. */
  async usage(budgetName: string): Promise<WindowUsage> {
    const budget = this.budget(budgetName);
    const reply = (await this.redis.run(USAGE, budget.keys, budget.windowArgs)) as number[];
    const [, recovering = 0, gate = 0, probing = 0, ...occupied] = reply;
    return {
      windows: budget.windows.map((w, i) => ({
        limit: w.limit,
        windowMs: w.windowMs,
        occupied: occupied[i] ?? 0,
      })),
      gateClosedForMs: gate,
      probing: probing === 1,
      recoveringForMs: recovering,
    };
  }

  /** Stops the heartbeat; the connection belongs to the caller. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
  }

  private budget(name: string): Budget {
    const budget = this.budgets.get(name);
    if (budget === undefined) throw new RangeError(`no budget named ${name}`);
    return budget;
  }

  private member(callId: string): string {
    return `${this.instanceId}:${callId}`;
  }

  /** Writes this replica's places back into the log of `epoch`, then follows that epoch. */
  private async reseed(budget: Budget, epoch: string): Promise<void> {
    const places = budget.journal.entries();
    if (places.length > 0 || budget.journal.closedUntil > 0) {
      const done = await this.redis.run(RESEED, budget.keys, [
        epoch,
        budget.journal.closedUntil,
        budget.longestHoldMs,
        ...places.flat(),
      ]);
      if (done !== 1) return; // the epoch moved on again: the next reply says to which
    }
    if (budget.epoch !== undefined && budget.epoch !== epoch) {
      this.logger.warn(
        { budget: budget.name, places: places.length },
        "Redis lost the shared window log; put back this replica's places, grants wait out the shortest window",
      );
    }
    budget.epoch = epoch;
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== undefined || this.closed) return;
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** While this replica has places that count, it checks each budget's epoch and re-seeds a lost log. */
  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    let holding = false;
    for (const budget of this.budgets.values()) {
      if (budget.epoch === undefined || budget.journal.size === 0) continue;
      try {
        const [epoch, now] = (await this.redis.run(SYNC, budget.keys, [newEpoch(), budget.recoveryMs])) as [
          string,
          number,
        ];
        if (epoch !== budget.epoch) await this.reseed(budget, epoch);
        budget.journal.prune(now);
      } catch (error) {
        this.warn(error, budget.name, "could not check the shared window log");
      }
      holding ||= budget.journal.size > 0;
    }
    this.beating = false;
    if (!holding) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private warn(error: unknown, budget: string, message: string): void {
    const reason = error instanceof CoordinationUnavailableError ? error.reason : String(error);
    this.logger.warn({ budget, reason }, message);
  }
}

function budgetFrom(
  name: string,
  rules: readonly BudgetWindow[],
  options: { prefix: string; marginMs: number; scaled: (ms: number) => number },
): Budget {
  if (!BUDGET_NAME.test(name)) throw new RangeError(`budget names are letters, digits, _ . -; got ${name}`);
  if (rules.length === 0) throw new RangeError(`budget ${name} needs at least one window`);
  const windows = rules.map((rule) => {
    if (!Number.isSafeInteger(rule.limit) || rule.limit < 1 || !(rule.windowMs > 0)) {
      throw new RangeError(`budget ${name}: a window needs a whole limit from 1 and a positive length`);
    }
    const windowMs = options.scaled(rule.windowMs);
    return { limit: rule.limit, windowMs, holdMs: Math.ceil(windowMs + options.marginMs) };
  });
  const holds = windows.map((w) => w.holdMs);
  const longestHoldMs = Math.max(...holds);
  return {
    name,
    keys: [`${options.prefix}:win:{${name}}:log`, `${options.prefix}:win:{${name}}:state`],
    windows,
    windowArgs: windows.flatMap((w) => [w.limit, w.holdMs]),
    longestHoldMs,
    recoveryMs: Math.min(...holds),
    journal: new WindowJournal(longestHoldMs),
    epoch: undefined,
  };
}

function newEpoch(): string {
  return randomBytes(9).toString("base64url");
}
