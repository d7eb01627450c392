import { runAsApp } from "../auth/requestIdentity.js";
import type { DefenderClient } from "../defender/defenderClient.js";
import { DefenderApiError, DefenderNetworkError, InvalidInputError } from "../defender/errors.js";
import { assertActionId } from "../defender/ids.js";
import { filter } from "../defender/odataQuery.js";
import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import type { Logger } from "../logger.js";
import { describeProgress } from "./progressMessage.js";
import type { SharedPolling } from "./sharedPolling.js";
import { isTransientFailure } from "./transientFailure.js";
import type { FollowedAction, WaitOptions } from "./types.js";

/** Ids per list call: 50 GUIDs keep the `$filter` well under any URL limit. */
export const IDS_PER_LIST_CALL = 50;

/** Final actions kept for readers after nobody follows them; their state never changes again. */
const FINAL_STATES_KEPT = 2000;

/** A read budget the poller keeps to: at most `calls` read calls in any `windowMs` (already scaled). */
export interface ReadBudget {
  calls: number;
  windowMs: number;
}

export interface ActionPollerOptions {
  client: DefenderClient;
  /** Between rounds while a caller waits on an action (MDE_POLL_INTERVAL_SECONDS), already scaled. */
  intervalMs: number;
  /**
   * Between rounds while nobody waits: actions in flight are still read, so their sessions free and
   * their devices take the next request, but slowly (an offline device's action can queue for days).
   */
  idleIntervalMs: number;
  /** The share of the API's read limits polling may spend; the rest stays for tool calls. */
  budgets: readonly ReadBudget[];
  /** Replicas: one of them (the leader) polls for all, the others read its states. */
  shared?: SharedPolling | undefined;
  logger: Logger;
}

/**
 * A follower reads an action itself (through the read budget) once the freshest state it has, its
 * own or the leader's, is older than this many rounds of the pace that applies to it (the poll
 * interval while a caller waits on it, the idle interval otherwise): the leader is late, gone, or cut off.
 */
export const FOLLOWER_STALENESS_INTERVALS = 2;

interface Tracked {
  id: string;
  latest: MachineAction | undefined;
  /** performance.now() of the latest read; -Infinity before any. */
  readAt: number;
  /** Why the latest read failed; undefined when it did not. */
  error: unknown;
  /** The failure will not change by waiting (404, 403): followers stop, and it is read no more unless held. */
  stuck: boolean;
  /** Held by a session: read until final whether or not anyone follows it. */
  held: boolean;
  followers: number;
}

/**
 * The one loop that reads every live response action in flight: one list call (`$filter=id in (…)`)
 * per 50 actions per round, whoever waits on them, so 25 waiting tool calls cost what one does. Its
 * interval is the poll interval while anyone waits and the idle interval otherwise, never shorter than
 * what keeps its list calls inside its share of the read budget (so more actions in flight, more calls
 * per round, longer rounds). Every read anywhere in the service lands in its cache, so readers that
 * find a state fresh (or final) make no call at all.
 *
 * With replicas (`shared`), one loop serves the tenant: the leader's rounds read what every replica
 * wants read and share each state; the other replicas' rounds take those states from Redis and read
 * through the API only what the leader left stale (FOLLOWER_STALENESS_INTERVALS).
 */
export class ActionPoller {
  readonly intervalMs: number;
  private readonly client: DefenderClient;
  private readonly logger: Logger;
  private readonly idleIntervalMs: number;
  private readonly budgets: readonly ReadBudget[];
  private readonly tracked = new Map<string, Tracked>();
  private readonly roundListeners = new Set<() => void>();
  private readonly updateListeners: Array<(action: MachineAction) => void> = [];
  private readonly goneListeners: Array<(actionId: string) => void> = [];
  /** Callers waiting on something the held actions free (a session slot, a device). */
  private waiters = 0;
  private lastRoundAt = -Infinity;
  private roundRun: Promise<void> | undefined;
  private looping = false;
  private wake: (() => void) | undefined;
  private urgent = false;
  /** Cleared when the API refuses `id in (…)`: each action is then read on its own. */
  private listWorks = true;
  private closed = false;
  private readonly shared: SharedPolling | undefined;
  /** As the leader last learnt it: the actions other replicas want read, and whether anyone waits on one. */
  private remote: { ids: string[]; followed: boolean } = { ids: [], followed: false };
  private announcing: Promise<void> | undefined;
  private announceAgain = false;

  constructor(options: ActionPollerOptions) {
    this.client = options.client;
    this.logger = options.logger;
    this.intervalMs = options.intervalMs;
    this.idleIntervalMs = Math.max(options.idleIntervalMs, options.intervalMs);
    this.budgets = options.budgets;
    this.shared = options.shared;
    this.shared?.onLeadership((leading) => {
      this.logger.info(
        { leading },
        leading ? "polling every replica's actions" : "no longer polling for every replica",
      );
      if (!leading) this.remote = { ids: [], followed: false };
      this.ensureLoop();
    });
  }

  /** Called with every action state read, by a round or by anyone else. */
  onUpdate(listener: (action: MachineAction) => void): void {
    this.updateListeners.push(listener);
  }

  /** Called with each held action the API no longer knows (404). */
  onGone(listener: (actionId: string) => void): void {
    this.goneListeners.push(listener);
  }

  /**
   * A state read outside the poller (a submit's answer, a get, a cancel), or by the leader at
   * `readAt`: cached and passed on.
   */
  observe(action: MachineAction, readAt = performance.now()): void {
    const entry = this.entry(action.id);
    // A final state never changes again: an older answer arriving late does not undo it.
    if (isFinalActionStatus(entry.latest?.status ?? "") && !isFinalActionStatus(action.status)) return;
    if (readAt < entry.readAt && !isFinalActionStatus(action.status)) return;
    entry.latest = action;
    entry.readAt = readAt;
    entry.error = undefined;
    entry.stuck = false;
    for (const listener of this.updateListeners) listener(action);
    this.forgetIfDone(entry);
    // Followers hear of a round once, at its end; a read outside one (a get, a cancel) at once.
    if (this.roundRun === undefined) this.notify();
  }

  /** Reads `action` until it is final, whether or not anyone follows it (it holds a session). */
  hold(action: MachineAction): void {
    if (isFinalActionStatus(action.status)) return;
    const entry = this.entry(action.id);
    if (entry.latest === undefined) {
      entry.latest = action;
      entry.readAt = performance.now();
    }
    entry.held = true;
    this.ensureLoop();
    this.announce();
  }

  /** The cached state if read within `maxAgeMs` (any age when final), else undefined. */
  cached(actionId: string, maxAgeMs = this.intervalMs): MachineAction | undefined {
    const entry = this.tracked.get(actionId.toLowerCase());
    const latest = entry?.latest;
    if (latest === undefined) return undefined;
    if (isFinalActionStatus(latest.status)) return latest;
    return performance.now() - entry!.readAt <= maxAgeMs ? latest : undefined;
  }

  /**
   * The state the leader last read, when fresh (or final); undefined otherwise, also on the leader
   * itself and without replicas. Costs a Redis read, no API call.
   */
  async sharedState(actionId: string): Promise<MachineAction | undefined> {
    if (this.shared === undefined || this.leads()) return undefined;
    try {
      const [state] = await this.shared.read([actionId]);
      if (state === undefined) return undefined;
      if (!isFinalActionStatus(state.action.status) && state.ageMs > this.intervalMs) return undefined;
      this.observe(state.action, performance.now() - state.ageMs);
      return state.action;
    } catch {
      return undefined;
    }
  }

  /** Someone waits for a held action to end: rounds go at the poll interval until the returned function is called. */
  whileWaiting(): () => void {
    this.waiters += 1;
    this.ensureLoop();
    this.wake?.();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.waiters -= 1;
    };
  }

  /** A round now unless the last one is more recent than the poll interval (or the read budget's pace). */
  refreshIfStale(): Promise<void> {
    if (this.roundRun) return this.roundRun;
    if (this.pollable().length === 0 || performance.now() - this.lastRoundAt < this.paceMs(true)) {
      return Promise.resolve();
    }
    return runAsApp(() => this.round());
  }

  /**
   * Follows actions from states already read (or, for ids alone, from the first round), until each is
   * final or stuck, `waitMs` of wall-clock time has passed or the signal aborts, reporting progress
   * right away and after every round. Nothing is thrown: each action keeps its latest state, with the
   * failure of its latest read when that failed.
   */
  async follow(
    actions: ReadonlyArray<MachineAction | string>,
    options: WaitOptions,
  ): Promise<Array<{ id: string; latest: MachineAction | undefined; error: unknown }>> {
    if (!Number.isFinite(options.waitMs) || options.waitMs < 0) {
      throw new InvalidInputError(
        "waitMs",
        `waitMs must be a finite number of milliseconds from 0; got ${options.waitMs}`,
      );
    }
    const entries = [
      ...new Map(
        actions.map((a) => {
          const entry = this.entry(typeof a === "string" ? a : a.id);
          if (typeof a !== "string" && entry.latest === undefined) entry.latest = a;
          return [entry.id.toLowerCase(), entry];
        }),
      ).values(),
    ];
    const open = () => entries.filter((e) => !e.stuck && !isFinalActionStatus(e.latest?.status ?? ""));
    const report = () => {
      const latest = entries.flatMap((e) => e.latest ?? []);
      options.onProgress?.({
        done: latest.filter((a) => isFinalActionStatus(a.status)).length,
        total: entries.length,
        actions: latest,
        message: describeProgress(latest, entries.length),
      });
    };
    const { signal } = options;
    for (const entry of entries) entry.followers += 1;
    this.announce();
    try {
      // A state older than the poll interval is read before the caller hears anything.
      if (entries.some((e) => performance.now() - e.readAt > this.intervalMs && open().includes(e))) {
        if (!signal?.aborted) await this.roundSoon(signal);
      }
      report();
      const deadline = performance.now() + options.waitMs;
      while (open().length > 0 && !signal?.aborted && !this.closed && performance.now() < deadline) {
        this.ensureLoop();
        const ended = await this.nextRound(deadline - performance.now(), signal);
        if (!ended) break;
        report();
      }
    } finally {
      for (const entry of entries) {
        entry.followers -= 1;
        this.forgetIfDone(entry);
      }
    }
    return entries.map((e) => ({ id: e.id, latest: e.latest, error: e.error }));
  }

  /** Tells the leader, in the background, which actions this replica wants read (one write in flight at a time). */
  private announce(): void {
    const shared = this.shared;
    if (shared === undefined) return;
    if (this.announcing) {
      this.announceAgain = true;
      return;
    }
    this.announcing = (async () => {
      do {
        this.announceAgain = false;
        const pollable = this.pollable();
        if (pollable.length === 0) break;
        const followed = this.waiters > 0 ? pollable : pollable.filter((e) => e.followers > 0);
        await shared
          .want(
            pollable.map((e) => e.id),
            followed.map((e) => e.id),
          )
          .catch((error: unknown) =>
            this.logger.debug(
              { code: (error as { code?: unknown }).code },
              "could not tell the leader what to poll",
            ),
          );
      } while (this.announceAgain && !this.closed);
    })().finally(() => {
      this.announcing = undefined;
    });
  }

  private leads(): boolean {
    return this.shared?.isLeader() ?? false;
  }

  /** For the leader: what every replica wants read. Kept as it was when Redis cannot say. */
  private async refreshWanted(): Promise<void> {
    try {
      this.remote = await this.shared!.wanted();
    } catch (error) {
      this.logger.debug(
        { code: (error as { code?: unknown }).code },
        "could not read what other replicas want polled",
      );
    }
  }

  /** Stops the loop; held actions are no longer read. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Resolves once the round under way (if any) has its answers: after `close`, no read is left in flight. */
  async settled(): Promise<void> {
    await this.roundRun;
  }

  private entry(actionId: string): Tracked {
    const key = actionId.toLowerCase();
    let entry = this.tracked.get(key);
    if (entry === undefined) {
      entry = {
        id: actionId,
        latest: undefined,
        readAt: -Infinity,
        error: undefined,
        stuck: false,
        held: false,
        followers: 0,
      };
      this.tracked.set(key, entry);
    }
    return entry;
  }

  /** Actions a round reads: not final, and either held or followed without a failure that waiting cannot fix. */
  private pollable(): Tracked[] {
    return [...this.tracked.values()].filter(
      (e) => !isFinalActionStatus(e.latest?.status ?? "") && (e.held || (e.followers > 0 && !e.stuck)),
    );
  }

  private forgetIfDone(entry: Tracked): void {
    if (entry.followers > 0) return;
    const final = isFinalActionStatus(entry.latest?.status ?? "");
    if (final) entry.held = false;
    if (entry.held) return;
    const key = entry.id.toLowerCase();
    if (!final) {
      this.tracked.delete(key);
      return;
    }
    // Kept for readers, oldest dropped first (a Map iterates in insertion order).
    this.tracked.delete(key);
    this.tracked.set(key, entry);
    const finals = [...this.tracked.entries()].filter(
      ([, e]) => e.followers === 0 && !e.held && isFinalActionStatus(e.latest?.status ?? ""),
    );
    for (const [oldKey] of finals.slice(0, Math.max(0, finals.length - FINAL_STATES_KEPT))) {
      this.tracked.delete(oldKey);
    }
  }

  /**
   * The least time between two rounds: the poll interval when someone waits (idle interval otherwise),
   * stretched so that the calls of one round, repeated, stay inside every read budget.
   */
  private paceMs(waiting = this.waiters > 0 || this.hasFollowers() || this.remote.followed): number {
    const count = this.roundIds().length;
    const calls = this.listWorks ? Math.max(1, Math.ceil(count / IDS_PER_LIST_CALL)) : Math.max(1, count);
    const budgetPace = Math.max(0, ...this.budgets.map((b) => (calls * b.windowMs) / b.calls));
    return Math.max(waiting ? this.intervalMs : this.idleIntervalMs, budgetPace);
  }

  private hasFollowers(): boolean {
    for (const e of this.tracked.values()) if (e.followers > 0) return true;
    return false;
  }

  private notify(): void {
    for (const listener of [...this.roundListeners]) listener();
  }

  /** Resolves true after the next round or state change, false when time runs out or the signal aborts. */
  private nextRound(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.roundListeners.delete(onRound);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      };
      const onRound = () => done(true);
      const onAbort = () => done(false);
      // setTimeout would cut a wait past 2^31 - 1 ms (Infinity included) to 1 ms.
      const timer = Number.isFinite(ms) ? setTimeout(() => done(false), Math.max(0, ms)) : undefined;
      this.roundListeners.add(onRound);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** A round as soon as the read budget's pace allows, or the one under way. */
  private async roundSoon(signal: AbortSignal | undefined): Promise<void> {
    this.urgent = true;
    this.ensureLoop();
    this.wake?.();
    await this.nextRound(Infinity, signal);
  }

  /** Starts the loop, or has the running one work out its pace again (a follower or a hold came). */
  private ensureLoop(): void {
    if (this.looping) this.wake?.();
    if (this.looping || this.closed) return;
    this.looping = true;
    // The loop serves everyone: it reads as the app, never as the user whose call happened to start it.
    void runAsApp(() => this.loop()).finally(() => {
      this.looping = false;
      // A hold or a follower may have come in as the loop was ending.
      if ((this.pollable().length > 0 || this.leads()) && !this.closed) this.ensureLoop();
    });
  }

  private async loop(): Promise<void> {
    while (!this.closed && (this.pollable().length > 0 || this.leads())) {
      // The leader learns what the others want every poll interval, a Redis read: no API call.
      const leading = this.leads();
      if (leading) await this.refreshWanted();
      const pace = this.urgent ? this.budgetOnlyPaceMs() : this.paceMs();
      // States just read (a submit's answer, a get) are not read again before the pace has passed.
      const oldest =
        leading && this.remote.ids.length > 0 ? -Infinity : Math.min(...this.pollable().map((e) => e.readAt));
      const due = Math.max(this.lastRoundAt, this.urgent ? -Infinity : oldest) + pace - performance.now();
      if (due > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, leading ? Math.min(due, this.intervalMs) : due);
          timer.unref();
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue; // the pace may have changed (a waiter came, the poller was closed)
      }
      this.urgent = false;
      await this.round();
    }
  }

  /** An urgent round waits only for the read budget, not for the poll interval. */
  private budgetOnlyPaceMs(): number {
    const pace = this.paceMs();
    const interval =
      this.waiters > 0 || this.hasFollowers() || this.remote.followed ? this.intervalMs : this.idleIntervalMs;
    return pace > interval ? pace : 0;
  }

  private round(): Promise<void> {
    this.roundRun ??= this.readAll().finally(() => {
      this.roundRun = undefined;
      this.notify();
    });
    return this.roundRun;
  }

  /** What a round reads: this process's pollable actions and, on the leader, every replica's. */
  private roundIds(): string[] {
    const ids = new Map(this.pollable().map((e) => [e.id.toLowerCase(), e.id]));
    if (this.leads())
      for (const id of this.remote.ids) if (!ids.has(id.toLowerCase())) ids.set(id.toLowerCase(), id);
    return [...ids.values()];
  }

  private async readAll(): Promise<void> {
    this.lastRoundAt = performance.now();
    const shared = this.shared;
    if (shared === undefined) {
      await this.readIds(this.roundIds());
      return;
    }
    this.announce();
    if (!this.leads()) {
      await this.readAsFollower(shared);
      return;
    }
    const { read, gone } = await this.readIds(this.roundIds());
    await shared
      .publish(read, gone)
      .catch((error: unknown) =>
        this.logger.debug({ code: (error as { code?: unknown }).code }, "could not share the states read"),
      );
  }

  /**
   * A follower's round: the leader's states where fresh, the API (through the read budget) for the
   * actions whose freshest state, its own or the leader's, is older than FOLLOWER_STALENESS_INTERVALS
   * rounds of the pace that applies to it (the poll interval while a caller waits, the idle one otherwise).
   */
  private async readAsFollower(shared: SharedPolling): Promise<void> {
    const boundOf = (e: Tracked) =>
      FOLLOWER_STALENESS_INTERVALS *
      (this.waiters > 0 || e.followers > 0 ? this.intervalMs : this.idleIntervalMs);
    try {
      const states = await shared.read(this.pollable().map((e) => e.id));
      const now = performance.now();
      for (const { action, ageMs } of states) {
        const entry = this.tracked.get(action.id.toLowerCase());
        if (entry !== undefined && ageMs <= boundOf(entry)) this.observe(action, now - ageMs);
      }
    } catch (error) {
      this.logger.debug({ code: (error as { code?: unknown }).code }, "could not read the leader's states");
    }
    const now = performance.now();
    const stale = this.pollable().filter((e) => now - e.readAt > boundOf(e));
    if (stale.length > 0) await this.readIds(stale.map((e) => e.id));
  }

  /** Reads `ids` from the API: one list call per 50, or each alone once the API refused a list. */
  private async readIds(ids: readonly string[]): Promise<{ read: MachineAction[]; gone: string[] }> {
    const read: MachineAction[] = [];
    const gone: string[] = [];
    const readOne = async (id: string) => {
      const outcome = await this.readOne(id);
      if (outcome === "gone") gone.push(id);
      else if (outcome) read.push(outcome);
    };
    for (let i = 0; i < ids.length; i += IDS_PER_LIST_CALL) {
      const chunk = ids.slice(i, i + IDS_PER_LIST_CALL);
      if (!this.listWorks) {
        for (const id of chunk) await readOne(id);
        continue;
      }
      try {
        const { items } = await this.client.listMachineActions({ filter: filter.in("id", chunk) });
        const wanted = new Set(chunk.map((id) => id.toLowerCase()));
        for (const action of items) {
          if (!wanted.has(action.id.toLowerCase())) continue;
          read.push(action);
          this.observe(action);
        }
        const listed = new Set(items.map((a) => a.id.toLowerCase()));
        // One the list leaves out is read on its own: a 404 then says the API no longer knows it.
        for (const id of chunk.filter((c) => !listed.has(c.toLowerCase()))) await readOne(id);
      } catch (error) {
        if (error instanceof DefenderApiError && error.status === 400) {
          this.listWorks = false;
          this.logger.warn(
            { code: error.code },
            "the API refused a list of actions by id; reading each action on its own from now on",
          );
          for (const id of chunk) await readOne(id);
          continue;
        }
        for (const id of chunk) this.failed(id, error);
      }
    }
    return { read, gone };
  }

  /** The action's state, "gone" when the API no longer knows it, undefined when the read failed otherwise. */
  private async readOne(actionId: string): Promise<MachineAction | "gone" | undefined> {
    try {
      const action = await this.client.getMachineAction(assertActionId(actionId));
      this.observe(action);
      return action;
    } catch (error) {
      this.failed(actionId, error);
      if (error instanceof DefenderApiError && error.status === 404) {
        const entry = this.tracked.get(actionId.toLowerCase());
        if (entry?.held) {
          this.logger.warn({ actionId }, "a held live response action no longer exists; freeing its session");
          entry.held = false;
          for (const listener of this.goneListeners) listener(actionId);
        }
        return "gone";
      }
      return undefined;
    }
  }

  private failed(actionId: string, error: unknown): void {
    const entry = this.tracked.get(actionId.toLowerCase());
    if (entry === undefined) return;
    const transient = isTransientFailure(error);
    entry.error = error;
    entry.stuck = !transient;
    this.logger.warn(
      { actionId, code: (error as { code?: unknown }).code, transient },
      transient
        ? "reading an action failed; keeping its last known state"
        : "reading an action failed in a way waiting cannot fix",
    );
  }
}

/** What a follower of ids alone gets: the state, or the failure that left it without one. */
export function stateOrThrow(outcome: { latest: MachineAction | undefined; error: unknown }): MachineAction {
  if (outcome.error !== undefined && !isTransientFailure(outcome.error)) throw outcome.error;
  if (outcome.latest !== undefined) return outcome.latest;
  throw (
    outcome.error ??
    DefenderNetworkError.from(undefined, "getMachineAction", { dispatched: false, aborted: true })
  );
}

/** A followed action keeps its last known state, with the failure of its latest read. */
export function followedAction(
  given: MachineAction,
  outcome: { latest: MachineAction | undefined; error: unknown } | undefined,
): FollowedAction {
  return { action: outcome?.latest ?? given, pollError: outcome?.error };
}
