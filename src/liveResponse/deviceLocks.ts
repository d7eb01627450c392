import type { Lease } from "../coordination/lease.js";
import type { AcquireOutcome, LeaseWait } from "../coordination/leaseWait.js";
import type { RedisLocks } from "../coordination/redisLocks.js";
import { DefenderApiError } from "../defender/errors.js";
import { sharedLease, type HeldActionRefresher } from "./sessionTracker.js";
import { WaitQueue, type WaitEnd, type WaitLimits } from "./waitQueue.js";

/**
 * The device was still busy with an action of this server when the caller's wait ran out; nothing
 * was sent. It carries the API's own code for a busy device, so callers treat both alike.
 */
export class DeviceBusyError extends DefenderApiError {
  /** The action the device is busy with; undefined while that action's submit is still under way. */
  readonly busyActionId: string | undefined;
  readonly machineId: string;

  constructor(machineId: string, busyActionId: string | undefined) {
    const detail = busyActionId
      ? `device ${machineId} is busy with live response action ${busyActionId} of this server, which did not finish within the wait`
      : `device ${machineId} is busy: another submit of this server to it is under way`;
    super({ status: 400, code: "ActiveRequestAlreadyExists", detail, endpoint: "runLiveResponse" });
    // Not the API's answer: this server refused before sending, and the message says so.
    this.message = `${detail}; the request was not sent (one live response action per device at a time)`;
    this.busyActionId = busyActionId;
    this.machineId = machineId;
  }
}

interface DeviceLock {
  /** Undefined while the holder's submit is under way. */
  actionId: string | undefined;
  queue: WaitQueue;
}

/**
 * One live response action per device inside this server: a request for a device that has an action
 * of ours in flight waits its turn instead of drawing `ActiveRequestAlreadyExists` from the API. A
 * lock is held from before the submit until the action is final.
 *
 * With replicas, the device is also locked in Redis (a lease per device, taken after the local turn
 * and given up with it), so no two replicas submit to one device at once. A device whose action this
 * replica adopted (at start, or from a replica that died) is locked in Redis too, as soon as the lock
 * is free, and until that action is final: other replicas' requests for it wait rather than draw
 * `ActiveRequestAlreadyExists`.
 */
export class DeviceLocks {
  private readonly locks = new Map<string, DeviceLock>();
  private readonly leases = new Map<string, Lease>();
  /** Background waits for the shared lock of devices whose action was adopted; aborted when it ends. */
  private readonly adopting = new Map<string, AbortController>();

  constructor(
    private readonly refresher: HeldActionRefresher,
    private readonly shared?: RedisLocks,
  ) {}

  /** Waits for the device within `limits`; a caller that gets "granted" must end with `bind` or `release`. */
  async acquire(machineId: string, limits: WaitLimits): Promise<WaitEnd> {
    const local = await this.acquireHere(machineId, limits);
    if (local !== "granted" || this.shared === undefined) return local;
    const shared = this.shared;
    const key = machineId.toLowerCase();
    let outcome;
    try {
      // Another replica's action holds it: the caller stands in line for it from now on.
      const inTurn = async (wait: LeaseWait): Promise<AcquireOutcome> => {
        if (wait.signal?.aborted) return { granted: false, reason: "aborted" };
        const lease = await shared.tryAcquire(key);
        if (lease !== undefined && wait.signal?.aborted) await lease.release();
        else if (lease !== undefined) return { granted: true, lease };
        limits.onQueued?.();
        return shared.acquire(key, wait);
      };
      outcome = await sharedLease(inTurn, limits);
    } catch (error) {
      this.release(machineId);
      throw error;
    }
    if (!outcome.granted) {
      this.release(machineId);
      return outcome.reason;
    }
    this.leases.set(key, outcome.lease);
    return "granted";
  }

  private async acquireHere(machineId: string, limits: WaitLimits): Promise<WaitEnd> {
    const key = machineId.toLowerCase();
    if (this.take(key) === undefined) return "granted";
    await this.refresher.refreshIfStale();
    const lock = this.take(key);
    if (lock === undefined) return "granted";
    const done = this.refresher.whileWaiting();
    try {
      return await lock.queue.wait(limits);
    } finally {
      done();
    }
  }

  /** The action the device is busy with, as far as this server knows. */
  holderOf(machineId: string): string | undefined {
    return this.locks.get(machineId.toLowerCase())?.actionId;
  }

  /** Where the caller waiting with `ticket` stands in the device's line: [position from 1, line length]. */
  placeOf(machineId: string, ticket: object): [number, number] | undefined {
    const queue = this.locks.get(machineId.toLowerCase())?.queue;
    const position = queue?.positionOf(ticket);
    return queue === undefined || position === undefined ? undefined : [position, queue.length];
  }

  /** The holder's submit created `actionId`: the lock now lasts until that action is final. */
  bind(machineId: string, actionId: string): void {
    const lock = this.locks.get(machineId.toLowerCase());
    if (lock) lock.actionId = actionId;
  }

  /** An action in flight found without a submit of this process (reconciled on start, or adopted). */
  adopt(machineId: string, actionId: string): void {
    const key = machineId.toLowerCase();
    if (this.take(key) !== undefined) return;
    this.bind(machineId, actionId);
    this.holdShared(key, actionId);
  }

  /** Takes the device's shared lock for an adopted action (waiting while another holds it), and again if lost. */
  private holdShared(key: string, actionId: string): void {
    const shared = this.shared;
    if (shared === undefined) return;
    const ended = new AbortController();
    this.adopting.set(key, ended);
    const stillHeld = () =>
      !ended.signal.aborted && this.holderOf(key)?.toLowerCase() === actionId.toLowerCase();
    void sharedLease((wait) => shared.acquire(key, wait), { deadline: Infinity, signal: ended.signal })
      .catch(() => ({ granted: false as const }))
      .then((outcome) => {
        if (!outcome.granted) return;
        if (!stillHeld()) {
          void outcome.lease.release();
          return;
        }
        this.adopting.delete(key);
        this.leases.set(key, outcome.lease);
        outcome.lease.onLost(() => {
          if (this.leases.get(key) !== outcome.lease) return;
          this.leases.delete(key);
          if (this.holderOf(key)?.toLowerCase() === actionId.toLowerCase()) this.holdShared(key, actionId);
        });
      });
  }

  /** Hands the device to the next waiter, or frees it. */
  release(machineId: string): void {
    const key = machineId.toLowerCase();
    // Sent before the next waiter here asks Redis (one connection keeps the order).
    void this.leases.get(key)?.release();
    this.leases.delete(key);
    this.adopting.get(key)?.abort();
    this.adopting.delete(key);
    const lock = this.locks.get(key);
    if (lock === undefined) return;
    lock.actionId = undefined;
    if (!lock.queue.grantNext()) this.locks.delete(key);
  }

  /** An action seen final frees its device, if it is what holds it. */
  releaseAction(machineId: string, actionId: string): void {
    if (this.holderOf(machineId)?.toLowerCase() === actionId.toLowerCase()) this.release(machineId);
  }

  /** Takes the device when free (undefined); otherwise returns the lock that holds it. */
  private take(key: string): DeviceLock | undefined {
    const held = this.locks.get(key);
    if (held === undefined) this.locks.set(key, { actionId: undefined, queue: new WaitQueue() });
    return held;
  }
}
