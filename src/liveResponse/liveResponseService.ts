import { setMaxListeners } from "node:events";
import { scaleMs } from "../config/time.js";
import type { RedisLocks } from "../coordination/redisLocks.js";
import type { RedisSemaphore } from "../coordination/redisSemaphore.js";
import { assertComment, assertLiveResponseCommands } from "../defender/commandRules.js";
import type { DefenderClient, LiveResponseCommand } from "../defender/defenderClient.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  InvalidInputError,
  submitOutcome,
} from "../defender/errors.js";
import type { CaOption } from "../defender/httpTransport.js";
import { assertActionId, assertMachineId } from "../defender/ids.js";
import { filter } from "../defender/odataQuery.js";
import { isFinalActionStatus, type Machine, type MachineAction } from "../defender/schemas.js";
import { createLogger, type Logger } from "../logger.js";
import { ActionPoller, IDS_PER_LIST_CALL, followedAction, stateOrThrow } from "./actionPoller.js";
import { CommandResults } from "./commandResults.js";
import { DeviceBusyError, DeviceLocks } from "./deviceLocks.js";
import {
  correlationTag,
  looksLikeRequestId,
  newRequestId,
  requestIdInComment,
  taggedComment,
} from "./requestIds.js";
import { RESULT_LINK_LIFETIME_MS, RESULT_LINK_MARGIN_MS, ResultLinks } from "./resultLinks.js";
import { SessionCapError, SessionTracker, type SessionCounts } from "./sessionTracker.js";
import { SubmitReconciler } from "./submitReconciler.js";
import type {
  CallOptions,
  CommandResultData,
  FollowedAction,
  LiveResponseApi,
  SubmitOptions,
  SubmittedRequest,
  WaitOptions,
} from "./types.js";
import type { WaitLimits } from "./waitQueue.js";

export interface LiveResponseDeps {
  client: DefenderClient;
  /** Where RunScript outputs and collected files are written (created with mode 0700). */
  downloadDir: string;
  /** MDE_TIME_SCALE: divides the poll interval. */
  timeScale: number;
  /** Seconds between polls while a caller waits on an action, real-world (default 5), divided by timeScale. */
  pollIntervalSeconds?: number;
  /** Seconds between polls while nobody waits, real-world (default 30), divided by timeScale. */
  idlePollIntervalSeconds?: number;
  /** Extra CA for result blob downloads (the simulator's); default: system trust. */
  blobCa?: CaOption;
  /** Largest RunScript result JSON to download (default 64 MiB) and largest collected file (default 3 GiB, the API's GetFile limit). */
  maxScriptResultBytes?: number;
  maxFileBytes?: number;
  /** MDE_MAX_SESSIONS: live response actions this server keeps in flight at most (default 25). */
  maxSessions?: number;
  /** Real-world seconds before a lost submit is looked up a second time (default 2), divided by timeScale. */
  lookAgainSeconds?: number;
  /** Replicas behind Redis: the session cap and the device locks every replica shares. */
  shared?: SharedLiveResponse | undefined;
  logger?: Logger;
}

export interface SharedLiveResponse {
  /** Its capacity is MDE_MAX_SESSIONS, the same on every replica. */
  sessions: RedisSemaphore;
  devices: RedisLocks;
}

export const DEFAULT_POLL_INTERVAL_SECONDS = 5;
export const DEFAULT_IDLE_POLL_INTERVAL_SECONDS = 30;
/** Polling spends at most this share of each read limit; tool calls' own reads keep the rest. */
export const POLLING_READ_SHARE = 0.5;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
export const DEFAULT_MAX_SCRIPT_RESULT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_FILE_BYTES = 3 * 1024 * 1024 * 1024;
export const DEFAULT_LOOK_AGAIN_SECONDS = 2;

/** What this process remembers of a request id; ids are not persisted. */
interface RequestRecord {
  machineId: string;
  actionId: string | undefined;
  error: unknown;
  /** Present when the request was queued (see SubmitOptions.queue). */
  line?: QueueLine | undefined;
}

/** A queued request's place: what it waits for, how to withdraw it, and its outcome once known. */
interface QueueLine {
  /** Names the request in the device's and the sessions' wait queues. */
  ticket: object;
  machine: Machine | undefined;
  waitingFor: "session" | "device" | "submit";
  withdraw: AbortController;
  outcome: Promise<SubmittedRequest> | undefined;
  settled: SubmittedRequest | undefined;
  /** It stands in a wait queue now (not between queues, re-reading the held actions). */
  standing: boolean;
  /** Its turn came: the submit is under way and can no longer be withdrawn. */
  sending?: boolean;
  withdrawn?: boolean;
  /** Called when it takes its place in a queue, its submit starts, or it ends. */
  wake?: (() => void) | undefined;
}

interface PendingSubmit {
  requestId: string;
  machineId: string;
  machine: Machine | undefined;
  commands: LiveResponseCommand[];
  comment: string;
}

/** The promise's value if it settles within `ms` and before the signal aborts; undefined otherwise. */
async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<T | undefined> {
  if (signal?.aborted) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), undefined);
    onAbort = () => resolve(undefined);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function checkMachineIds(machineIds: unknown): string[] {
  if (!Array.isArray(machineIds) || machineIds.length === 0) {
    throw new InvalidInputError("machine_ids", "machine_ids must be a non-empty list of Defender device ids");
  }
  const ids = machineIds.map((id, i) => assertMachineId(id, `machine_ids[${i}]`));
  ids.forEach((id, i) => {
    if (ids.indexOf(id) !== i) {
      throw new InvalidInputError(
        `machine_ids[${i}]`,
        `machine_ids[${i}] repeats machine_ids[${ids.indexOf(id)}]; a device takes one live response action at a time, so list it once`,
      );
    }
  });
  return ids;
}

/**
 * The live response domain over the Defender API client: one action per device, followed to a final
 * status, every command's result fetched once, cancel. Request ids live in memory for the life of
 * the process; the action id is what lasts.
 */
export class LiveResponseService implements LiveResponseApi {
  private readonly client: DefenderClient;
  private readonly logger: Logger;
  private readonly poller: ActionPoller;
  private readonly results: CommandResults;
  private readonly tracker: SessionTracker;
  private readonly locks: DeviceLocks;
  private readonly reconciler: SubmitReconciler;
  private readonly requests = new Map<string, RequestRecord>();
  /** The first request that produced each action (a merged request points at another's action). */
  private readonly requestOfAction = new Map<string, string>();
  /** Queued requests waiting for the submit budget, in the order they took their place. */
  private readonly submitLine = new Set<QueueLine>();
  private readonly finalListeners: Array<(action: MachineAction, requestId: string | null) => void> = [];
  /** This server's actions already reported final (each is reported once). */
  private readonly reportedFinal = new Set<string>();

  constructor(deps: LiveResponseDeps) {
    this.client = deps.client;
    this.logger = deps.logger ?? createLogger();
    const seconds = (value: number | undefined, fallback: number, name: string) =>
      scaleMs(positive(value ?? fallback, name) * 1000, deps.timeScale);
    const limits = deps.client.limiters.settings;
    this.poller = new ActionPoller({
      client: deps.client,
      intervalMs: seconds(deps.pollIntervalSeconds, DEFAULT_POLL_INTERVAL_SECONDS, "pollIntervalSeconds"),
      idleIntervalMs: seconds(
        deps.idlePollIntervalSeconds,
        DEFAULT_IDLE_POLL_INTERVAL_SECONDS,
        "idlePollIntervalSeconds",
      ),
      budgets: [
        { calls: limits.readsPerMinute * POLLING_READ_SHARE, windowMs: scaleMs(MINUTE_MS, deps.timeScale) },
        { calls: limits.readsPerHour * POLLING_READ_SHARE, windowMs: scaleMs(HOUR_MS, deps.timeScale) },
      ],
      logger: this.logger,
    });
    this.results = new CommandResults({
      client: deps.client,
      links: new ResultLinks({
        client: deps.client,
        lifetimeMs: scaleMs(RESULT_LINK_LIFETIME_MS, deps.timeScale),
        marginMs: scaleMs(RESULT_LINK_MARGIN_MS, deps.timeScale),
      }),
      downloadDir: deps.downloadDir,
      blobCa: deps.blobCa,
      maxScriptResultBytes: positive(
        deps.maxScriptResultBytes ?? DEFAULT_MAX_SCRIPT_RESULT_BYTES,
        "maxScriptResultBytes",
      ),
      maxFileBytes: positive(deps.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, "maxFileBytes"),
      logger: this.logger,
    });
    this.tracker = new SessionTracker({
      poller: this.poller,
      maxSessions: deps.maxSessions,
      shared: deps.shared?.sessions,
      logger: this.logger,
    });
    // A replica that froze past a submit's session lease sends nothing until it holds a slot again.
    if (deps.shared)
      this.client.limiters.submit.requireBeforeAdmission(() => this.tracker.reservationsHeld());
    this.poller.onUpdate((action) => this.reportIfFinal(action));
    this.locks = new DeviceLocks(this.tracker, deps.shared?.devices);
    this.tracker.onFinal(({ machineId, actionId }) => this.locks.releaseAction(machineId, actionId));
    this.reconciler = new SubmitReconciler({
      client: deps.client,
      lookAgainAfterMs: scaleMs(
        positive(deps.lookAgainSeconds ?? DEFAULT_LOOK_AGAIN_SECONDS, "lookAgainSeconds") * 1000,
        deps.timeScale,
      ),
      logger: this.logger,
    });
  }

  onFinal(listener: (action: MachineAction, requestId: string | null) => void): void {
    this.finalListeners.push(listener);
  }

  private reportIfFinal(action: MachineAction): void {
    const key = action.id.toLowerCase();
    if (!isFinalActionStatus(action.status) || this.reportedFinal.has(key)) return;
    const requestId = this.requestOfAction.get(key);
    // Only this server's own actions: a get_action on someone else's is not its to record.
    if (requestId === undefined) return;
    this.reportedFinal.add(key);
    for (const listener of this.finalListeners) listener(action, requestId);
  }

  /** Session slots in use, the cap, and the actions holding them. */
  sessions(): SessionCounts {
    return this.tracker.counts();
  }

  /**
   * Takes back, once at start, the slots and devices of this server's actions still in flight (those
   * whose comment carries our tag), so a restart neither forgets them nor counts them twice.
   */
  async reconcile(options: CallOptions = {}): Promise<{ adopted: number }> {
    const { items } = await this.client.listMachineActions(
      {
        filter: filter.and(filter.in("status", ["Pending", "InProgress"]), filter.eq("type", "LiveResponse")),
      },
      options,
    );
    let adopted = 0;
    for (const action of items) {
      const requestId = requestIdInComment(action.requestorComment);
      const machineId = action.machineId?.toLowerCase();
      if (requestId === undefined || machineId === undefined || this.tracker.isHeld(action.id)) continue;
      this.tracker.adopt(action, machineId);
      this.locks.adopt(machineId, action.id);
      this.remember(requestId, machineId, action.id);
      adopted += 1;
    }
    this.logger.info({ adopted, inUse: this.tracker.counts().inUse }, "live response sessions reconciled");
    return { adopted };
  }

  async submit(
    input: { machineIds: string[]; commands: LiveResponseCommand[]; comment: string },
    options: SubmitOptions = {},
  ): Promise<SubmittedRequest[]> {
    const machineIds = checkMachineIds(input.machineIds);
    assertLiveResponseCommands(input.commands);
    const comment = assertComment(input.comment);
    const waitMs = options.waitMs ?? 0;
    if (!Number.isFinite(waitMs) || waitMs < 0) {
      throw new InvalidInputError(
        "waitMs",
        `waitMs must be a finite number of milliseconds from 0; got ${waitMs}`,
      );
    }
    // One listener on the caller's signal for the whole batch; each device listens to this one.
    const batch = new AbortController();
    setMaxListeners(0, batch.signal);
    const stop = () => batch.abort(options.signal?.reason);
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    const signal = options.signal === undefined ? undefined : batch.signal;
    const limits: WaitLimits = { deadline: performance.now() + waitMs, signal };
    const machines = await this.readMachines(machineIds, signal);
    // Every device starts at once, in order, so each takes its place in every line behind the one before.
    return Promise.all(
      machineIds.map(async (machineId) => {
        const entry = await this.submitOne(
          machineId,
          machines.get(machineId),
          input.commands,
          comment,
          limits,
          options.queue ?? false,
        );
        options.onEntry?.(entry);
        return entry;
      }),
    ).finally(() => options.signal?.removeEventListener("abort", stop));
  }

  /**
   * The devices as the API knows them: one list call per 50 devices (a device left out is read on its
   * own), or one read for a single device. A device the API does not know is a 404 (its submit would
   * only spend the 10-a-minute budget on the same answer); one that could not be read is submitted anyway.
   */
  private async readMachines(
    machineIds: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, Machine | DefenderApiError | undefined>> {
    const found = new Map<string, Machine | DefenderApiError | undefined>();
    if (machineIds.length > 1) {
      for (let i = 0; i < machineIds.length; i += IDS_PER_LIST_CALL) {
        const chunk = machineIds.slice(i, i + IDS_PER_LIST_CALL);
        try {
          const { items } = await this.client.listMachines({ filter: filter.in("id", chunk) }, { signal });
          for (const machine of items) {
            const id = chunk.find((c) => c.toLowerCase() === machine.id.toLowerCase());
            if (id !== undefined) found.set(id, machine);
          }
        } catch (error) {
          if (signal?.aborted) break;
          this.logger.debug({ code: (error as { code?: unknown }).code }, "devices not listed; reading each");
        }
      }
    }
    for (const machineId of machineIds.filter((id) => !found.has(id))) {
      try {
        found.set(machineId, await this.client.getMachine(machineId, { signal }));
      } catch (error) {
        if (error instanceof DefenderApiError && error.status === 404) {
          found.set(machineId, error);
          continue;
        }
        if (signal?.aborted) break;
        this.logger.debug(
          { machineId, code: (error as { code?: unknown }).code },
          "device not read; submitting anyway",
        );
        found.set(machineId, undefined);
      }
    }
    return found;
  }

  private async submitOne(
    machineId: string,
    read: Machine | DefenderApiError | undefined,
    commands: LiveResponseCommand[],
    comment: string,
    limits: WaitLimits,
    queue: boolean,
  ): Promise<SubmittedRequest> {
    const requestId = newRequestId();
    const signal = limits.signal;
    if (read instanceof DefenderApiError || signal?.aborted) {
      const error =
        read instanceof DefenderApiError
          ? read
          : DefenderNetworkError.from(signal?.reason, "runLiveResponse", {
              dispatched: false,
              aborted: true,
            });
      return this.failed({ requestId, machineId, machine: undefined }, error);
    }
    const request = { requestId, machineId, machine: read, commands, comment };
    if (!queue) return this.admitAndSend(request, limits, signal);
    return this.submitQueueing(request, limits);
  }

  /**
   * Waits for the device's turn and a slot with no end, in the background; the call gets the outcome
   * if it comes within its wait, else the request as queued. An abort before then withdraws it.
   */
  private async submitQueueing(request: PendingSubmit, limits: WaitLimits): Promise<SubmittedRequest> {
    const line: QueueLine = {
      ticket: {},
      machine: request.machine,
      waitingFor: "device",
      withdraw: new AbortController(),
      outcome: undefined,
      settled: undefined,
      standing: false,
    };
    const wake = () => line.wake?.();
    this.requests.set(request.requestId, {
      machineId: request.machineId,
      actionId: undefined,
      error: undefined,
      line,
    });
    const outcome = this.admitAndSend(
      request,
      {
        deadline: Infinity,
        signal: line.withdraw.signal,
        ticket: line.ticket,
        onQueued: () => {
          line.standing = true;
          wake();
        },
      },
      undefined,
      line,
    );
    line.outcome = outcome;
    void outcome.then((result) => {
      line.settled = result;
      wake();
    });
    const early = await settledWithin(outcome, limits.deadline - performance.now(), limits.signal);
    if (early !== undefined) return early;
    if (limits.signal?.aborted) {
      line.withdraw.abort(limits.signal.reason);
      return outcome;
    }
    // Out of time: the call returns the request queued once it stands in a line; a submit under way
    // is seen through, as without a queue.
    await new Promise<void>((resolve) => {
      line.wake = resolve;
      if (line.standing || line.sending || line.settled) resolve();
    });
    line.wake = undefined;
    if (line.sending || line.settled) return outcome;
    const { requestId, machineId } = request;
    this.logger.info({ requestId, machineId, waitingFor: line.waitingFor }, "live response request queued");
    return this.queuedEntry(request, line);
  }

  private queuedEntry(
    request: Omit<PendingSubmit, "commands" | "comment">,
    line: QueueLine,
  ): SubmittedRequest {
    const { requestId, machineId, machine } = request;
    const place =
      line.waitingFor === "device"
        ? this.locks.placeOf(machineId, line.ticket)
        : line.waitingFor === "session"
          ? this.tracker.placeOf(line.ticket)
          : this.submitPlaceOf(line);
    // Between two lines (its device came, a refresh decides on a slot) it is next; sending, it is past them.
    const [position, of] = line.sending ? [0, 0] : (place ?? [1, 1]);
    const estimateMs =
      position === 0
        ? 0
        : line.waitingFor === "submit"
          ? this.submitEstimateMs(position)
          : this.tracker.estimateWaitMs(position, line.waitingFor === "device" ? 1 : this.tracker.max);
    return {
      ...withoutAction({ requestId, machineId, machine }),
      queued: {
        position,
        of,
        waitingFor: line.waitingFor,
        estimateSeconds: estimateMs === undefined ? null : Math.ceil(estimateMs / 1000),
        ...(line.waitingFor === "device" ? { busyActionId: this.locks.holderOf(machineId) } : {}),
      },
    };
  }

  private submitPlaceOf(line: QueueLine): [number, number] | undefined {
    const position = [...this.submitLine].indexOf(line) + 1;
    return position === 0 ? undefined : [position, this.submitLine.size];
  }

  /**
   * Real milliseconds until the submit at `position` in this server's line is let go: the places left
   * in the submit window now go first, then a window's worth per window.
   */
  private submitEstimateMs(position: number): number {
    const [window] = this.client.limiters.submit.snapshot().windows;
    if (window === undefined) return 0;
    const free = Math.max(0, window.limit - window.occupied);
    return position <= free ? 0 : Math.ceil((position - free) / window.limit) * window.windowMs;
  }

  /** The device first, then a session, then the submit budget: a request waiting for its device holds no session meanwhile. */
  private async admitAndSend(
    request: PendingSubmit,
    limits: WaitLimits,
    sendSignal: AbortSignal | undefined,
    line?: QueueLine,
  ): Promise<SubmittedRequest> {
    const { requestId, machineId, machine, commands, comment } = request;
    const stopped = () => {
      if (line?.withdrawn) return this.withdrawnEntry(request);
      return this.failed(
        request,
        DefenderNetworkError.from(limits.signal?.reason, "runLiveResponse", {
          dispatched: false,
          aborted: true,
        }),
      );
    };
    // The caller may stop this request before a device's submit is sent, never while it is under way:
    // an abandoned POST can leave an action on the device that nothing here remembers.
    if (limits.signal?.aborted) return stopped();
    const device = await this.locks.acquire(machineId, limits);
    if (device === "aborted") return stopped();
    if (device === "timeout")
      return this.failed(request, new DeviceBusyError(machineId, this.locks.holderOf(machineId)));
    if (line) Object.assign(line, { waitingFor: "session", standing: false });
    const slot = await this.tracker.reserve(limits);
    if (slot !== "granted") {
      this.locks.release(machineId);
      return slot === "aborted"
        ? stopped()
        : this.failed(request, new SessionCapError(this.tracker.counts()));
    }
    // Then its place in the submit budget: still withdrawable until the limiter lets it go.
    if (line) {
      Object.assign(line, { waitingFor: "submit", standing: true });
      this.submitLine.add(line);
      line.wake?.();
    }
    const admission = line && {
      signal: line.withdraw.signal,
      onAdmitted: () => {
        this.submitLine.delete(line);
        if (line.sending) return;
        line.sending = true;
        line.wake?.();
      },
    };

    const tag = correlationTag(requestId);
    let action: MachineAction;
    let recovered: boolean;
    try {
      ({ action, recovered } = await this.reconciler.submit(
        machineId,
        { commands, comment: taggedComment(comment, requestId) },
        tag,
        sendSignal,
        admission,
      ));
    } catch (error) {
      if (line) this.submitLine.delete(line);
      this.tracker.unreserve();
      this.locks.release(machineId);
      return line?.withdrawn && !line.sending ? this.withdrawnEntry(request) : this.failed(request, error);
    }
    this.remember(requestId, machineId, action.id);
    this.locks.bind(machineId, action.id);
    this.tracker.hold(action, machineId);
    this.poller.observe(action);
    // An action that is final already (or is another request's) does not hold this device.
    if (!this.tracker.isHeld(action.id)) this.locks.releaseAction(machineId, action.id);
    const merged = !(action.requestorComment ?? "").includes(tag);
    this.logger.info(
      { requestId, machineId, actionId: action.id, merged, recovered },
      "live response action submitted",
    );
    return { requestId, machineId, machine, action, error: undefined, merged, recovered };
  }

  private failed(
    request: Pick<PendingSubmit, "requestId" | "machineId" | "machine">,
    error: unknown,
  ): SubmittedRequest {
    const { requestId, machineId, machine } = request;
    this.requests.set(requestId, { ...this.requests.get(requestId), machineId, actionId: undefined, error });
    this.logger.warn(
      { requestId, machineId, code: (error as { code?: unknown }).code, outcome: submitOutcome(error) },
      "live response submit failed",
    );
    return { ...withoutAction({ requestId, machineId, machine }), error };
  }

  private withdrawnEntry(
    request: Pick<PendingSubmit, "requestId" | "machineId" | "machine">,
  ): SubmittedRequest {
    const { requestId, machineId, machine } = request;
    this.logger.info({ requestId, machineId }, "queued live response request withdrawn before submission");
    return { ...withoutAction({ requestId, machineId, machine }), withdrawn: true };
  }

  async queuedRequest(requestId: string, options: WaitOptions): Promise<SubmittedRequest | undefined> {
    const line = this.requests.get(requestId)?.line;
    if (line?.outcome === undefined) return undefined;
    let result = line.settled ?? (await settledWithin(line.outcome, options.waitMs, options.signal));
    if (result === undefined && line.sending) result = await line.outcome;
    if (result === undefined) {
      const record = this.requests.get(requestId)!;
      return this.queuedEntry({ requestId, machineId: record.machineId, machine: line.machine }, line);
    }
    return result.action === undefined ? result : undefined;
  }

  async withdraw(requestId: string): Promise<SubmittedRequest | undefined> {
    const line = this.requests.get(requestId)?.line;
    if (line?.outcome === undefined) return undefined;
    if (line.settled === undefined && !line.sending) {
      line.withdrawn = true;
      line.withdraw.abort(new Error("withdrawn by cancel_action"));
    }
    const result = await line.outcome;
    return result.action === undefined ? result : undefined;
  }

  /** Every request still queued, with its place, in the order they were made. */
  queue(): SubmittedRequest[] {
    return [...this.requests.entries()].flatMap(([requestId, { machineId, line }]) =>
      line && line.settled === undefined && !line.sending && !line.withdrawn
        ? [this.queuedEntry({ requestId, machineId, machine: line.machine }, line)]
        : [],
    );
  }

  /** Withdraws every request still queued (none is submitted after the service is closed) and stops polling. */
  close(): void {
    this.poller.close();
    for (const { line } of this.requests.values()) {
      if (line && line.settled === undefined && !line.sending) {
        line.withdrawn = true;
        line.withdraw.abort(new Error("service closed"));
      }
    }
  }

  private remember(requestId: string, machineId: string, actionId: string): void {
    this.requests.set(requestId, { ...this.requests.get(requestId), machineId, actionId, error: undefined });
    const actionKey = actionId.toLowerCase();
    if (!this.requestOfAction.has(actionKey)) this.requestOfAction.set(actionKey, requestId);
  }

  async waitForFinal(actionIds: string[], options: WaitOptions): Promise<MachineAction[]> {
    const ids = actionIds.map((id, i) => assertActionId(id, `action_ids[${i}]`));
    return (await this.poller.follow(ids, options)).map(stateOrThrow);
  }

  async follow(actions: readonly MachineAction[], options: WaitOptions): Promise<FollowedAction[]> {
    const outcomes = await this.poller.follow(actions, options);
    return actions.map((action) =>
      followedAction(
        action,
        outcomes.find((o) => o.id.toLowerCase() === action.id.toLowerCase()),
      ),
    );
  }

  async getAction(
    id: string,
    options: CallOptions = {},
  ): Promise<{ requestId: string | null; action: MachineAction }> {
    const { requestId, actionId } = this.resolve(id);
    // The shared poller's state when fresh (or final) costs no read.
    const cached = this.poller.cached(actionId);
    if (cached !== undefined) return { requestId, action: cached };
    const action = await this.client.getMachineAction(actionId, options);
    this.poller.observe(action);
    return { requestId, action };
  }

  async cancel(
    id: string,
    comment: string,
    options: CallOptions = {},
  ): Promise<{ requestId: string | null; action: MachineAction; alreadyFinal: boolean }> {
    const { requestId, actionId } = this.resolve(id);
    try {
      const action = await this.client.cancelMachineAction(actionId, comment, options);
      this.poller.observe(action);
      return { requestId, action, alreadyFinal: false };
    } catch (error) {
      // Defender answers 400 to a cancel of a final action; cancelling is idempotent, so read the
      // action to tell that case from a cancel refused for another reason.
      if (!(error instanceof DefenderApiError && error.status === 400)) throw error;
      const action = await this.client.getMachineAction(actionId, options);
      this.poller.observe(action);
      if (!isFinalActionStatus(action.status)) throw error;
      return { requestId, action, alreadyFinal: true };
    }
  }

  async commandResults(action: MachineAction, options: CallOptions = {}): Promise<CommandResultData[]> {
    if (isFinalActionStatus(action.status)) this.poller.observe(action);
    return this.results.of(action, options);
  }

  /** A request id of this process, or an MDE action id. */
  private resolve(id: string): { requestId: string | null; actionId: string } {
    if (typeof id === "string" && looksLikeRequestId(id)) {
      const quoted = JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);
      const record = this.requests.get(id);
      if (record === undefined) {
        throw new InvalidInputError(
          "action_id",
          `no request with id ${quoted} in this server; request ids live only as long as the server process — use the action_id`,
        );
      }
      if (record.actionId === undefined) {
        const why = record.error instanceof Error ? record.error.message : String(record.error);
        throw new InvalidInputError(
          "action_id",
          `request ${quoted} has no action: its submit to device ${record.machineId} failed (${why})`,
        );
      }
      return { requestId: id, actionId: record.actionId };
    }
    const actionId = assertActionId(id, "action_id");
    return { requestId: this.requestOfAction.get(actionId.toLowerCase()) ?? null, actionId };
  }
}

/** A device's entry that has no action (queued, withdrawn, or failed): the fields every such entry shares. */
function withoutAction(
  request: Pick<SubmittedRequest, "requestId" | "machineId" | "machine">,
): SubmittedRequest {
  return { ...request, action: undefined, error: undefined, merged: false, recovered: false };
}
