import { setTimeout as sleep } from "node:timers/promises";
import { CoordinationUnavailableError } from "../coordination/errors.js";
import type { Lease } from "../coordination/lease.js";
import type { AcquireOutcome, LeaseWait } from "../coordination/leaseWait.js";
import type { RedisSemaphore } from "../coordination/redisSemaphore.js";
import { isFinalActionStatus, type MachineAction } from "../defender/schemas.js";
import { createLogger, type Logger } from "../logger.js";
import type { ActionPoller } from "./actionPoller.js";
import { WaitQueue, type WaitEnd, type WaitLimits } from "./waitQueue.js";

export const DEFAULT_MAX_SESSIONS = 25;

export interface HeldSession {
  actionId: string;
  machineId: string;
  status: string;
}

export interface SessionCounts {
  /** Slots taken: actions in flight plus submits under way. */
  inUse: number;
  max: number;
  held: HeldSession[];
}

/** What a caller waiting on something the tracker frees (a slot, a device) asks of it. */
export interface HeldActionRefresher {
  /** Reads the held actions again unless that was done within the refresh interval. */
  refreshIfStale(): Promise<void>;
  /** Keeps held actions refreshed in the background until the returned function is called. */
  whileWaiting(): () => void;
}

/**
 * A slot taken for one submit (see SessionTracker.reserve); it ends with `hold` or `unreserve`.
 * `readyToSend` is asked right before the submit is let go: with replicas it is true only while this
 * replica holds a live lease in the shared cap for it.
 */
export interface Reservation {
  readyToSend(): boolean;
}

/** Every session slot stayed taken for as long as the caller could wait. */
export class SessionCapError extends Error {
  override readonly name = "SessionCapError";
  readonly code = "SESSION_CAP";
  readonly inUse: number;
  readonly max: number;
  readonly held: HeldSession[];

  constructor(counts: SessionCounts) {
    const shown = counts.held.slice(0, 10).map((h) => `${h.actionId} (${h.status} on ${h.machineId})`);
    const more = counts.held.length > shown.length ? ` and ${counts.held.length - shown.length} more` : "";
    super(
      `${counts.inUse} of ${counts.max} live response sessions are in use by this server, and none freed up within the wait; ` +
        `held by actions ${shown.join(", ") || "being submitted"}${more}. The request was not sent: ` +
        "wait for those actions to finish and submit again, or cancel actions queued on offline devices (Pending) to free their sessions",
    );
    this.inUse = counts.inUse;
    this.max = counts.max;
    this.held = counts.held;
  }
}

export interface SessionTrackerOptions {
  /** Reads the held actions until final; every state it reads comes back here. */
  poller: ActionPoller;
  maxSessions?: number;
  /** The session cap every replica shares: each held action (and each submit under way) also holds a lease in it. */
  shared?: RedisSemaphore | undefined;
  logger?: Logger | undefined;
}

/** How soon a wait for a shared lease asks again while Redis is unreachable (real ms). */
export const SHARED_RETRY_MS = 500;

/**
 * Waits for a shared lease within `limits`. While Redis cannot answer nothing is granted (never a
 * guess): the caller keeps waiting, asking again every SHARED_RETRY_MS, until its wait ends.
 */
export async function sharedLease(
  acquire: (wait: LeaseWait) => Promise<AcquireOutcome>,
  limits: WaitLimits,
): Promise<AcquireOutcome> {
  const { deadline, signal } = limits;
  for (;;) {
    try {
      return await acquire({ deadline, signal });
    } catch (error) {
      if (!(error instanceof CoordinationUnavailableError)) throw error;
      if (signal?.aborted) return { granted: false, reason: "aborted" };
      const remaining = deadline - performance.now();
      if (remaining <= 0) return { granted: false, reason: "timeout" };
      await sleep(Math.min(SHARED_RETRY_MS, remaining), undefined, { signal }).catch(() => undefined);
    }
  }
}

/**
 * The live response sessions this server has in flight. A slot is taken before a submit and held
 * from submission until the action is seen final, whether or not a tool call still follows it: the
 * API counts a session, an offline device's queued action included, until then. The shared poller
 * reads every held action until it is final, faster while someone waits for a slot or a device, and
 * every state read anywhere reaches `observe`, so slots free without a tool call.
 *
 * With replicas, the cap is shared: a slot here also takes a lease in the shared semaphore (after
 * the local slot, so a replica never holds more leases than slots), and the lease lasts as long as
 * the slot. A lease lost while its action is still in flight (this replica froze past it) is taken
 * again at once, whatever the count: the session still exists at Defender.
 */
export class SessionTracker implements HeldActionRefresher {
  readonly max: number;
  private readonly poller: ActionPoller;
  private readonly held = new Map<string, HeldSession>();
  /** Slots given to submits under way, not yet known to have created an action. */
  private reserved = 0;
  private readonly queue = new WaitQueue();
  private readonly finalListeners: Array<(session: HeldSession) => void> = [];
  /** When each held action started holding its slot, and how long freed ones held theirs on average. */
  private readonly heldSince = new Map<string, number>();
  private freedCount = 0;
  private meanHoldMs = 0;
  private readonly shared: RedisSemaphore | undefined;
  private readonly logger: Logger;
  /** Shared leases of reservations whose submit has not yet created an action (they are alike). */
  private readonly reservedLeases: Lease[] = [];
  /** Reservations whose submit was let go and may be under way: each needs one live reserved lease. */
  private readonly sending = new Set<Reservation>();
  /** Lapsed reserved leases being taken again; the wait stops once the lease is no longer needed. */
  private readonly replacing = new Map<Lease, AbortController>();
  /** The shared lease of each held action. */
  private readonly leases = new Map<string, Lease>();

  constructor(options: SessionTrackerOptions) {
    const max = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`maxSessions must be a whole number from 1, got ${max}`);
    }
    this.max = max;
    this.poller = options.poller;
    this.shared = options.shared;
    this.logger = options.logger ?? createLogger();
    this.poller.onUpdate((action) => this.observe(action));
    this.poller.onGone((actionId) => this.free(actionId.toLowerCase()));
  }

  counts(): SessionCounts {
    return {
      inUse: this.held.size + this.reserved,
      max: this.max,
      held: [...this.held.values()].map((h) => ({ ...h })),
    };
  }

  /** Where the caller waiting with `ticket` stands in the line for a slot: [position from 1, line length]. */
  placeOf(ticket: object): [number, number] | undefined {
    const position = this.queue.positionOf(ticket);
    return position === undefined ? undefined : [position, this.queue.length];
  }

  /**
   * Real milliseconds until the caller at `position` in a line for `slots` slots gets one, if actions
   * keep holding slots as long as they have on average in this process; undefined before any was freed.
   */
  estimateWaitMs(position: number, slots: number): number | undefined {
    if (this.freedCount === 0) return undefined;
    return Math.ceil(position / slots) * this.meanHoldMs + this.poller.intervalMs;
  }

  /** Called with each held action that is seen final (or found gone), after its slot is freed. */
  onFinal(listener: (session: HeldSession) => void): void {
    this.finalListeners.push(listener);
  }

  /**
   * Takes a slot for a submit about to be sent, in turn behind earlier callers, waiting within
   * `limits`. A reservation must end with `hold` or `unreserve`.
   */
  async reserve(limits: WaitLimits): Promise<Reservation | Exclude<WaitEnd, "granted">> {
    const local = await this.reserveHere(limits);
    if (local !== "granted") return local;
    const reservation: Reservation = { readyToSend: () => this.readyToSend(reservation) };
    if (this.shared === undefined) return reservation;
    const semaphore = this.shared;
    const done = this.whileWaiting();
    let outcome: AcquireOutcome;
    try {
      outcome = await sharedLease(
        (wait) => semaphore.acquire({ ...wait, onQueued: () => limits.onQueued?.() }),
        limits,
      );
    } catch (error) {
      this.giveBack();
      throw error;
    } finally {
      done();
    }
    if (!outcome.granted) {
      this.giveBack();
      return outcome.reason;
    }
    this.reserveLease(outcome.lease);
    return reservation;
  }

  /**
   * Reserved leases are alike, so a submit may go while live ones (held, renewals on time) outnumber
   * the submits already let go; it then counts as sending until it ends. One lapsed (this replica
   * froze past it, or lost Redis) is taken again in line meanwhile: requiring every lease to be live
   * instead would let replicas that each wait on a replacement hold every shared slot, and none
   * would ever send.
   */
  private readyToSend(reservation: Reservation): boolean {
    if (this.shared === undefined) return true;
    const live = this.reservedLeases.filter((lease) => lease.hasMargin()).length;
    if (this.sending.has(reservation)) return live >= this.sending.size;
    if (live <= this.sending.size) return false;
    this.sending.add(reservation);
    return true;
  }

  private reserveLease(lease: Lease): void {
    this.reservedLeases.push(lease);
    lease.onLost(() => void this.replaceReservation(lease));
  }

  /** Takes a slot again, in line like anyone, for a reservation whose lease was lost. */
  private async replaceReservation(lost: Lease): Promise<void> {
    const semaphore = this.shared;
    if (semaphore === undefined || !this.reservedLeases.includes(lost)) return;
    const stop = new AbortController();
    this.replacing.set(lost, stop);
    let outcome: AcquireOutcome;
    try {
      outcome = await sharedLease((wait) => semaphore.acquire(wait), {
        deadline: Infinity,
        signal: stop.signal,
      });
    } catch (error) {
      // Left lost, the reservation's submit could never go: ask again.
      this.logger.warn(
        { code: (error as { code?: unknown }).code },
        "could not take a session slot again for a submit; trying again",
      );
      setTimeout(() => void this.replaceReservation(lost), SHARED_RETRY_MS).unref();
      return;
    } finally {
      this.replacing.delete(lost);
    }
    if (!outcome.granted) return;
    const at = this.reservedLeases.indexOf(lost);
    if (at === -1) {
      // That reservation ended meanwhile (its submit went or failed).
      void outcome.lease.release();
      return;
    }
    this.reservedLeases.splice(at, 1);
    this.reserveLease(outcome.lease);
  }

  private async reserveHere(limits: WaitLimits): Promise<WaitEnd> {
    if (this.takeFree()) return "granted";
    await this.refreshIfStale();
    if (this.takeFree()) return "granted";
    const done = this.whileWaiting();
    try {
      return await this.queue.wait(limits);
    } finally {
      done();
    }
  }

  /** A reserved slot now holds `action` (a merged action already held gives its slot back). */
  hold(reservation: Reservation, action: MachineAction, machineId: string): void {
    this.sending.delete(reservation);
    this.reserved -= 1;
    // The action takes the surest lease (one lapsed or about to is being taken again for those left).
    const lease = this.takeReservedLease(
      (l) => l.hasMargin(),
      (l) => l.isHeld(),
    );
    if (this.track(action, machineId) && lease) this.keepLease(action.id.toLowerCase(), lease);
    else void lease?.release();
    this.admitWaiters();
  }

  /** A reserved slot's submit created no action. */
  unreserve(reservation: Reservation): void {
    this.sending.delete(reservation);
    void this.takeReservedLease(
      (l) => !l.isHeld(),
      (l) => !l.hasMargin(),
    )?.release();
    this.giveBack();
  }

  /** One of the reserved leases: the first the earliest of `preferences` accepts, else the first of all. */
  private takeReservedLease(...preferences: Array<(lease: Lease) => boolean>): Lease | undefined {
    const found = preferences.map((p) => this.reservedLeases.findIndex(p)).find((at) => at !== -1);
    const [lease] = this.reservedLeases.splice(found ?? 0, 1);
    if (lease) this.replacing.get(lease)?.abort();
    return lease;
  }

  /** An action in flight found without a submit of this process (reconciled on start, or adopted from a dead replica). */
  adopt(action: MachineAction, machineId: string): void {
    if (this.track(action, machineId)) this.adoptShared(action.id.toLowerCase());
  }

  /** Another replica counts and follows this action now: its slot here is freed as if it ended. */
  release(actionId: string): void {
    this.free(actionId.toLowerCase());
  }

  isHeld(actionId: string): boolean {
    return this.held.has(actionId.toLowerCase());
  }

  /** Every action state read anywhere comes here; a final one frees its slot. */
  observe(action: MachineAction): void {
    const key = action.id.toLowerCase();
    const session = this.held.get(key);
    if (session === undefined) return;
    if (isFinalActionStatus(action.status)) this.free(key);
    else session.status = action.status;
  }

  whileWaiting(): () => void {
    return this.poller.whileWaiting();
  }

  refreshIfStale(): Promise<void> {
    return this.poller.refreshIfStale();
  }

  private giveBack(): void {
    this.reserved -= 1;
    this.admitWaiters();
  }

  private keepLease(key: string, lease: Lease): void {
    if (!lease.isHeld()) {
      void lease.release();
      this.adoptShared(key);
      return;
    }
    this.leases.set(key, lease);
    lease.onLost(() => {
      if (this.leases.get(key) !== lease) return;
      this.leases.delete(key);
      if (this.held.has(key)) this.adoptShared(key);
    });
  }

  /** Counts a held action in the shared cap whatever its count (it exists at Defender); retried while Redis is away. */
  private adoptShared(key: string): void {
    const semaphore = this.shared;
    if (semaphore === undefined || !this.held.has(key) || this.leases.has(key)) return;
    semaphore.adopt().then(
      (lease) => {
        if (this.held.has(key) && !this.leases.has(key)) this.keepLease(key, lease);
        else void lease.release();
      },
      (error: unknown) => {
        this.logger.warn(
          { actionId: key, code: (error as { code?: unknown }).code },
          "could not count a session in the shared cap; trying again",
        );
        setTimeout(() => this.adoptShared(key), SHARED_RETRY_MS).unref();
      },
    );
  }

  private takeFree(): boolean {
    if (this.queue.length > 0 || this.held.size + this.reserved >= this.max) return false;
    this.reserved += 1;
    return true;
  }

  /** True when `action` now holds a slot it did not hold before. */
  private track(action: MachineAction, machineId: string): boolean {
    const key = action.id.toLowerCase();
    if (this.held.has(key) || isFinalActionStatus(action.status)) return false;
    this.held.set(key, { actionId: action.id, machineId, status: action.status });
    this.heldSince.set(key, performance.now());
    this.poller.hold(action);
    return true;
  }

  private free(key: string): void {
    const session = this.held.get(key);
    if (session === undefined) return;
    this.held.delete(key);
    const lease = this.leases.get(key);
    this.leases.delete(key);
    void lease?.release();
    const since = this.heldSince.get(key);
    this.heldSince.delete(key);
    if (since !== undefined) {
      this.freedCount += 1;
      this.meanHoldMs += (performance.now() - since - this.meanHoldMs) / this.freedCount;
    }
    this.admitWaiters();
    for (const listener of this.finalListeners) listener(session);
  }

  private admitWaiters(): void {
    while (this.held.size + this.reserved < this.max && this.queue.grantNext()) this.reserved += 1;
  }
}
