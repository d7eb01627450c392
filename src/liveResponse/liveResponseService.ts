import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { scaleMs } from "../config/time.js";
import { CoordinationUnavailableError } from "../coordination/errors.js";
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
import type { Admission, CaOption } from "../defender/httpTransport.js";
import { assertActionId, assertMachineId } from "../defender/ids.js";
import { filter } from "../defender/odataQuery.js";
import {
  MachineActionSchema,
  isFinalActionStatus,
  type Machine,
  type MachineAction,
} from "../defender/schemas.js";
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
import {
  LocalRequestRegistry,
  type InFlightAction,
  type RequestOutcome,
  type RequestRegistry,
  type SharedRequest,
  type SubmitClaim,
} from "./requestRegistry.js";
import { RESULT_LINK_LIFETIME_MS, RESULT_LINK_MARGIN_MS, ResultLinks } from "./resultLinks.js";
import { SHARED_RETRY_MS, SessionCapError, SessionTracker, type SessionCounts } from "./sessionTracker.js";
import type { SharedPolling } from "./sharedPolling.js";
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
  /** The correlation index of request ids, queued requests included (default: this process only). */
  requests?: RequestRegistry | undefined;
  /** One poller per tenant: the leader reads every replica's actions, the others read its states. */
  polling?: SharedPolling | undefined;
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
  /** Its record in the shared index as it was queued: what an adopter would send. */
  record: SharedRequest;
  /** Resolves once the index has its record. */
  recorded: Promise<void>;
  /** Another replica adopted it (this one was frozen or cut off past its liveness lease) and submits it. */
  handedOver?: boolean;
  /** It is `submitting` in the shared index under this replica's name: this replica alone sends it. */
  claimed?: boolean;
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
 * status, every command's result fetched once, cancel. Request ids live in this process's memory and,
 * with replicas, in the shared index (RequestRegistry) for as long as an action can last; the action
 * id is what lasts beyond that.
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
  private readonly registry: RequestRegistry;
  /** Each request's writes to the shared index, in order. */
  private readonly writes = new Map<string, Promise<void>>();
  private readonly adoptedListeners: Array<(entry: SubmittedRequest, comment: string) => void> = [];
  /** Publishes the places of this replica's queued requests and hears of withdrawals made elsewhere. */
  private syncTimer: NodeJS.Timeout | undefined;
  private syncRun: Promise<void> | undefined;
  private syncAgain = false;
  /**
   * A sync has confirmed, since this replica's liveness was last (re)gained, which requests are still
   * its own: until then it sends none (others may have adopted some while it was frozen or cut off).
   */
  private ownershipChecked = false;
  private livenessChanges = 0;
  private closed = false;

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
      shared: deps.shared?.polling,
      logger: this.logger,
    });
    this.registry = deps.shared?.requests ?? new LocalRequestRegistry();
    this.registry.onAdopted((record) => this.adopt(record));
    this.registry.onAdoptedInFlight((records) => void this.adoptInFlight(records));
    this.registry.onLivenessChange(() => {
      this.livenessChanges += 1;
      this.ownershipChecked = false;
      this.syncSoon(0);
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
    this.poller.onUpdate((action) => this.reportIfFinal(action));
    this.locks = new DeviceLocks(this.tracker, deps.shared?.devices);
    this.tracker.onFinal(({ machineId, actionId }) => {
      this.locks.releaseAction(machineId, actionId);
      this.finishedInFlight(actionId);
    });
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

  /**
   * Called once with each request of a dead replica this one adopted, when it ends here: submitted
   * (or found submitted by its tag), failed, or withdrawn. `comment` is the one it was made with.
   */
  onAdoptedOutcome(listener: (entry: SubmittedRequest, comment: string) => void): void {
    this.adoptedListeners.push(listener);
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
   * whose comment carries our tag), so a restart neither forgets them nor counts them twice. With
   * replicas (call it once this replica is alive in the shared index), only those no live replica
   * follows: a live one's stay its own; a dead one's, or one with no record (a server from before
   * Redis), become this one's, atomically, so exactly one replica counts each.
   */
  async reconcile(options: CallOptions = {}): Promise<{ adopted: number }> {
    const { items } = await this.client.listMachineActions(
      {
        filter: filter.and(filter.in("status", ["Pending", "InProgress"]), filter.eq("type", "LiveResponse")),
      },
      options,
    );
    const found = new Map<string, { action: MachineAction; inFlight: InFlightAction }>();
    for (const action of items) {
      const requestId = requestIdInComment(action.requestorComment);
      const machineId = action.machineId?.toLowerCase();
      if (requestId === undefined || machineId === undefined || this.tracker.isHeld(action.id)) continue;
      found.set(requestId, { action, inFlight: { requestId, machineId, actionId: action.id } });
    }
    const { mine, others } = await this.claimInFlight([...found.values()].map((f) => f.inFlight));
    for (const requestId of mine) {
      const { action, inFlight } = found.get(requestId)!;
      this.takeBack(action, inFlight);
    }
    this.logger.info(
      { adopted: mine.length, leftToOtherReplicas: others.length, inUse: this.tracker.counts().inUse },
      "live response sessions reconciled",
    );
    return { adopted: mine.length };
  }

  /** Claims actions in flight in the shared index, asking again while Redis cannot answer or this replica is not alive yet. */
  private async claimInFlight(
    actions: readonly InFlightAction[],
  ): Promise<{ mine: string[]; others: string[] }> {
    for (let warned = false; ; warned = true) {
      try {
        const claimed = await this.registry.claimInFlight(actions);
        if (claimed !== undefined) return claimed;
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError)) throw error;
      }
      if (this.closed) return { mine: [], others: actions.map((a) => a.requestId) };
      if (!warned)
        this.logger.warn("waiting for Redis to tell which actions in flight are this replica's to follow");
      await sleep(SHARED_RETRY_MS);
    }
  }

  /** Counts an action in flight that no submit here made, locks its device, and follows it to final. */
  private takeBack(action: MachineAction, { requestId, machineId, actionId }: InFlightAction): void {
    this.remember(requestId, machineId, actionId);
    this.tracker.adopt(action, machineId);
    if (this.tracker.isHeld(actionId)) this.locks.adopt(machineId, actionId);
    else this.finishedInFlight(actionId);
    // One already final is recorded here now: the replica that followed it died before it could.
    this.reportIfFinal(action);
  }

  /**
   * The actions a dead replica still had in flight, now this one's: each holds a session at Defender
   * and its device until final, so it is counted in the shared cap, its device locked, and it is
   * followed to final like this replica's own (its final status goes to this replica's audit trail).
   */
  private async adoptInFlight(records: readonly SharedRequest[]): Promise<void> {
    const adopted = records.flatMap(({ requestId, machineId, actionId }) =>
      actionId === null || this.tracker.isHeld(actionId)
        ? []
        : [{ requestId, machineId: machineId.toLowerCase(), actionId }],
    );
    if (adopted.length === 0) return;
    const states = await this.readStates(adopted.map((a) => a.actionId));
    if (this.closed) return;
    for (const inFlight of adopted) {
      const action =
        states.get(inFlight.actionId.toLowerCase()) ??
        // Not read (the API did not answer): counted as in flight until the poller reads it.
        MachineActionSchema.parse({
          id: inFlight.actionId,
          type: "LiveResponse",
          status: "Pending",
          machineId: inFlight.machineId,
        });
      this.takeBack(action, inFlight);
    }
    this.logger.info(
      { adopted: adopted.length, inUse: this.tracker.counts().inUse },
      "following the actions in flight of a replica that died",
    );
  }

  /** The current states of these actions, one list call per 50; those not read are left out. */
  private async readStates(actionIds: readonly string[]): Promise<Map<string, MachineAction>> {
    const states = new Map<string, MachineAction>();
    for (let i = 0; i < actionIds.length; i += IDS_PER_LIST_CALL) {
      try {
        const { items } = await this.client.listMachineActions({
          filter: filter.in("id", actionIds.slice(i, i + IDS_PER_LIST_CALL)),
        });
        for (const action of items) {
          states.set(action.id.toLowerCase(), action);
          this.poller.observe(action);
        }
      } catch (error) {
        this.logger.warn({ code: (error as { code?: unknown }).code }, "could not read adopted actions");
      }
    }
    return states;
  }

  /** An action seen final: the requests that made it need no replica to adopt them any more. */
  private finishedInFlight(actionId: string): void {
    if (!this.registry.shared) return;
    const key = actionId.toLowerCase();
    for (const [requestId, record] of this.requests) {
      if (record.actionId?.toLowerCase() === key)
        void this.write(requestId, () => this.registry.finished([requestId]));
    }
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
    const record: SharedRequest = {
      requestId: request.requestId,
      machineId: request.machineId,
      owner: this.registry.owner,
      state: "queued",
      actionId: null,
      failure: null,
      place: null,
      machine: request.machine ?? null,
      send: { commands: request.commands, comment: request.comment, since: Date.now() },
    };
    const { line, outcome } = this.enqueue(
      request,
      record,
      this.write(request.requestId, () => this.registry.queue(record)),
      undefined,
    );
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
    const entry = this.queuedEntry(request, line);
    // Other replicas tell its place from the start (a Redis that cannot answer does not hold the call up).
    const place = new Map([[requestId, entry.queued!]]);
    await settledWithin(
      this.write(requestId, () => this.registry.publishPlaces(place)),
      SHARED_RETRY_MS,
    );
    return entry;
  }

  /**
   * Puts a request in this process's lines with no end to its wait, in the background: it goes to
   * its device, a session and the submit budget in turn, and stays withdrawable until it is sent.
   * `recoverSince` marks one its previous owner may have sent before it died (see adopt).
   */
  private enqueue(
    request: PendingSubmit,
    record: SharedRequest,
    recorded: Promise<void>,
    recoverSince: number | undefined,
  ): { line: QueueLine; outcome: Promise<SubmittedRequest> } {
    const line: QueueLine = {
      ticket: {},
      machine: request.machine,
      waitingFor: "device",
      withdraw: new AbortController(),
      outcome: undefined,
      settled: undefined,
      standing: false,
      record,
      recorded,
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
      recoverSince,
    );
    line.outcome = outcome;
    void outcome.then((result) => {
      line.settled = result;
      // Another replica owns it now: its id resolves through the shared index from here on.
      if (line.handedOver && this.requests.get(request.requestId)?.line === line)
        this.requests.delete(request.requestId);
      wake();
    });
    this.syncSoon();
    return { line, outcome };
  }

  /**
   * A request of a replica that died before it was sent, now this one's: it takes its turn through
   * the same lines and limits as any. One its owner was already sending is first looked for by its
   * correlation tag, and sent only if no action carries it.
   */
  private adopt(record: SharedRequest): void {
    const { send } = record;
    if (this.closed || send === null || this.requests.has(record.requestId)) return;
    const request: PendingSubmit = {
      requestId: record.requestId,
      machineId: record.machineId,
      machine: record.machine ?? undefined,
      commands: send.commands,
      comment: send.comment,
    };
    const { outcome } = this.enqueue(
      request,
      { ...record, owner: this.registry.owner, state: "queued" },
      Promise.resolve(),
      record.state === "submitting" ? send.since : undefined,
    );
    void outcome.then((entry) => {
      if (entry.queued) return;
      for (const listener of this.adoptedListeners) listener(entry, send.comment);
    });
  }

  /**
   * One write to the shared index, after the request's earlier ones; while Redis is unreachable it
   * is tried again until it is back. Nothing to write when the index is this process's memory.
   */
  private write(requestId: string, write: () => Promise<unknown>): Promise<void> {
    if (!this.registry.shared) return Promise.resolve();
    const next = (this.writes.get(requestId) ?? Promise.resolve()).then(() => this.untilWritten(write));
    this.writes.set(requestId, next);
    void next.then(() => {
      if (this.writes.get(requestId) === next) this.writes.delete(requestId);
    });
    return next;
  }

  private async untilWritten(write: () => Promise<unknown>): Promise<void> {
    for (;;) {
      try {
        await write();
        return;
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError) || this.closed) {
          this.logger.warn(
            { code: (error as { code?: unknown }).code },
            "could not write a request to the shared index",
          );
          return;
        }
        await sleep(SHARED_RETRY_MS);
      }
    }
  }

  /** Has the sync of this replica's queued requests with the shared index run in `delayMs` (or sooner). */
  private syncSoon(delayMs = this.poller.intervalMs): void {
    if (!this.registry.shared || this.closed) return;
    if (this.syncRun) {
      if (delayMs === 0) this.syncAgain = true;
      return;
    }
    if (this.syncTimer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.syncTimer);
    }
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.syncRun = this.sync().finally(() => {
        this.syncRun = undefined;
        const again = this.syncAgain || !this.ownershipChecked;
        this.syncAgain = false;
        if (again || this.openLines().length > 0) this.syncSoon(again ? SHARED_RETRY_MS : undefined);
      });
    }, delayMs);
    this.syncTimer.unref();
  }

  /** This process's requests not sent yet, nor ended. */
  private openLines(): Array<{ requestId: string; machineId: string; line: QueueLine }> {
    return [...this.requests.entries()].flatMap(([requestId, { machineId, line }]) =>
      line && line.settled === undefined && !line.sending ? [{ requestId, machineId, line }] : [],
    );
  }

  /**
   * Writes the place of each request this replica still has to send, so any replica can tell it, and
   * stops those that are no longer its to send: withdrawn through another replica, or adopted by one
   * while this one was taken for dead. One the index lost (a Redis that came back empty) is written
   * again, and claimed again when it was claimed. Once a sync made while alive is through, this
   * replica knows its own again and may send.
   */
  private async sync(): Promise<void> {
    const changes = this.livenessChanges;
    const alive = this.registry.isAlive();
    const open = this.openLines();
    try {
      const places = new Map(
        open.map(({ requestId, machineId, line }) => [
          requestId,
          this.queuedEntry({ requestId, machineId, machine: line.machine }, line).queued!,
        ]),
      );
      const { withdrawn, handedOver, missing } = await this.registry.publishPlaces(places);
      const rewrites: Promise<void>[] = [];
      for (const { requestId, line } of open) {
        if (missing.includes(requestId)) rewrites.push(this.write(requestId, () => this.recordAgain(line)));
        const handed = handedOver.includes(requestId);
        if ((!handed && !withdrawn.includes(requestId)) || line.sending || line.settled) continue;
        this.stopLine(line, handed ? "handed-over" : "withdrawn");
      }
      await Promise.all(rewrites);
      if (alive) await this.confirmInFlight();
    } catch (error) {
      this.logger.warn({ code: (error as { code?: unknown }).code }, "could not sync queued requests");
      return;
    }
    if (alive && changes === this.livenessChanges && this.registry.isAlive()) this.ownershipChecked = true;
  }

  /**
   * The actions this replica follows are still its own in the index (written again if the index lost
   * them); one a live replica adopted while this one was taken for dead is that replica's to count
   * and follow now, and this one lets it go (its final status is recorded there).
   */
  private async confirmInFlight(): Promise<void> {
    const held = this.tracker.counts().held.flatMap(({ actionId, machineId }) => {
      const requestId = this.requestOfAction.get(actionId.toLowerCase());
      return requestId === undefined ? [] : [{ requestId, machineId, actionId }];
    });
    const claimed = await this.registry.claimInFlight(held);
    for (const { requestId, actionId } of held) {
      if (!claimed?.others.includes(requestId)) continue;
      this.logger.warn(
        { requestId, actionId },
        "an action in flight was adopted by another replica; it follows it",
      );
      this.reportedFinal.add(actionId.toLowerCase());
      this.tracker.release(actionId);
    }
  }

  /** A request the index lost: written again as this replica's, and claimed again if it was claimed. */
  private async recordAgain(line: QueueLine): Promise<void> {
    await this.registry.queue(line.record);
    if (!line.claimed) return;
    const claim = await this.registry.beginSubmit(line.record);
    if (claim !== "granted" && !line.sending) this.stopLine(line, claim);
  }

  /** Stops a request not sent yet: withdrawn through another replica, or adopted by one. */
  private stopLine(line: QueueLine, why: "withdrawn" | "handed-over"): void {
    if (why === "handed-over") line.handedOver = true;
    else line.withdrawn = true;
    line.withdraw.abort(
      new Error(why === "handed-over" ? "adopted by another replica" : "withdrawn through another replica"),
    );
  }

  /**
   * Right before the submit call: the request becomes `submitting` in the shared index unless it was
   * withdrawn through another replica or adopted by one meanwhile. While Redis cannot answer nothing is
   * sent; a withdrawal here meanwhile still stops it.
   */
  private async claim(line: QueueLine): Promise<SubmitClaim | "aborted"> {
    await line.recorded;
    for (;;) {
      if (line.withdraw.signal.aborted) return "aborted";
      try {
        return await this.registry.beginSubmit(line.record);
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        await sleep(SHARED_RETRY_MS, undefined, { signal: line.withdraw.signal }).catch(() => undefined);
      }
    }
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
    recoverSince?: number,
  ): Promise<SubmittedRequest> {
    const { requestId, machineId, machine, commands, comment } = request;
    const stopped = () => {
      if (line?.handedOver) return this.handedOverEntry(request, line);
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
    if (typeof slot === "string") {
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
    const admission: Admission = {
      // Checked right before the submit is let go, and again right before it is sent.
      ready: () => this.mayStillSend(line) && slot.readyToSend(),
      ...(line && {
        signal: line.withdraw.signal,
        onAdmitted: () => {
          this.submitLine.delete(line);
          if (line.sending) return;
          line.sending = true;
          line.wake?.();
        },
        // Withdrawable again, and stopped if it was handed over meanwhile.
        onReturned: () => {
          line.sending = false;
          this.submitLine.add(line);
        },
      }),
    };

    const tag = correlationTag(requestId);
    let action: MachineAction;
    let recovered: boolean;
    try {
      // Replicas: nothing withdrawn through another replica, or adopted by one, is sent from here.
      const claim =
        line && this.registry.shared && recoverSince === undefined ? await this.claim(line) : "granted";
      if (claim !== "granted") {
        if (claim === "withdrawn") line!.withdrawn = true;
        if (claim === "handed-over") line!.handedOver = true;
        throw new Error(`not sent: ${claim}`);
      }
      if (line) line.claimed = true;
      const send = { commands, comment: taggedComment(comment, requestId) };
      ({ action, recovered } =
        recoverSince === undefined
          ? await this.reconciler.submit(machineId, send, tag, sendSignal, admission)
          : await this.reconciler.submitUnlessFound(machineId, send, tag, recoverSince, admission));
    } catch (error) {
      if (line) this.submitLine.delete(line);
      this.tracker.unreserve(slot);
      this.locks.release(machineId);
      if (line?.sending) return this.failed(request, error);
      if (line?.handedOver) return this.handedOverEntry(request, line);
      return line?.withdrawn ? this.withdrawnEntry(request) : this.failed(request, error);
    }
    // Found by its tag rather than sent, it never left the submit line through admission.
    if (line) this.submitLine.delete(line);
    this.remember(requestId, machineId, action.id);
    void this.write(requestId, () =>
      this.registry.settle(
        { requestId, machineId, machine: machine ?? null },
        { state: "submitted", actionId: action.id },
      ),
    );
    this.locks.bind(machineId, action.id);
    this.tracker.hold(slot, action, machineId);
    this.poller.observe(action);
    // An action that is final already (or is another request's) does not hold this device.
    if (!this.tracker.isHeld(action.id)) {
      this.locks.releaseAction(machineId, action.id);
      this.finishedInFlight(action.id);
    }
    const merged = !(action.requestorComment ?? "").includes(tag);
    this.logger.info(
      { requestId, machineId, actionId: action.id, merged, recovered },
      "live response action submitted",
    );
    return { requestId, machineId, machine, action, error: undefined, merged, recovered };
  }

  /**
   * With replicas, a submit goes only while this replica is alive in the index and has confirmed
   * since which requests are still its own (it may have been frozen or cut off past its liveness
   * lease, and another replica may be sending this one), and never once it was withdrawn elsewhere.
   */
  private mayStillSend(line: QueueLine | undefined): boolean {
    if (!this.registry.shared) return true;
    if (line?.withdrawn || line?.handedOver) return false;
    return this.registry.isAlive() && this.ownershipChecked;
  }

  private failed(
    request: Pick<PendingSubmit, "requestId" | "machineId" | "machine">,
    error: unknown,
  ): SubmittedRequest {
    const { requestId, machineId, machine } = request;
    this.requests.set(requestId, { ...this.requests.get(requestId), machineId, actionId: undefined, error });
    this.settleShared(request, {
      state: "failed",
      failure: error instanceof Error ? error.message : String(error),
    });
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
    this.settleShared(request, { state: "withdrawn" });
    this.logger.info({ requestId, machineId }, "queued live response request withdrawn before submission");
    return { ...withoutAction({ requestId, machineId, machine }), withdrawn: true };
  }

  /** A request another replica adopted: still queued, there; its id now resolves through the shared index. */
  private handedOverEntry(
    request: Pick<PendingSubmit, "requestId" | "machineId" | "machine">,
    line: QueueLine,
  ): SubmittedRequest {
    const { requestId, machineId, machine } = request;
    this.logger.warn(
      { requestId, machineId },
      "a queued request was adopted by another replica; it submits it",
    );
    return {
      ...withoutAction({ requestId, machineId, machine }),
      queued: { position: 1, of: 1, waitingFor: line.waitingFor, estimateSeconds: null },
    };
  }

  private settleShared(
    request: Pick<PendingSubmit, "requestId" | "machineId" | "machine">,
    outcome: RequestOutcome,
  ): void {
    const { requestId, machineId, machine } = request;
    void this.write(requestId, () =>
      this.registry.settle({ requestId, machineId, machine: machine ?? null }, outcome),
    );
  }

  async queuedRequest(requestId: string, options: WaitOptions): Promise<SubmittedRequest | undefined> {
    if (!this.requests.has(requestId)) return this.elsewhere(requestId, options);
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

  /**
   * A request another replica took (or adopted), as the shared index has it: followed there within
   * the wait, every poll interval, while it is queued or being sent; undefined once it has an action
   * or failed (getAction then answers), or when no replica knows it.
   */
  private async elsewhere(requestId: string, options: WaitOptions): Promise<SubmittedRequest | undefined> {
    if (!this.registry.shared || !looksLikeRequestId(requestId)) return undefined;
    const deadline = performance.now() + options.waitMs;
    for (;;) {
      const record = await this.registry.get(requestId);
      if (record === undefined || record.state === "submitted" || record.state === "failed") return undefined;
      const entry = withoutAction({
        requestId,
        machineId: record.machineId,
        machine: record.machine ?? undefined,
      });
      if (record.state === "withdrawn") return { ...entry, withdrawn: true };
      const remaining = deadline - performance.now();
      if (this.closed) return undefined;
      if (remaining <= 0 || options.signal?.aborted) {
        const sending = record.state === "submitting" && record.place === null;
        return {
          ...entry,
          queued: record.place ?? {
            position: sending ? 0 : 1,
            of: sending ? 0 : 1,
            waitingFor: "submit",
            estimateSeconds: null,
          },
        };
      }
      await sleep(Math.min(this.poller.intervalMs, remaining), undefined, { signal: options.signal }).catch(
        () => undefined,
      );
    }
  }

  async withdraw(requestId: string): Promise<SubmittedRequest | undefined> {
    if (!this.requests.has(requestId)) return this.withdrawElsewhere(requestId);
    const line = this.requests.get(requestId)?.line;
    if (line?.outcome === undefined) return undefined;
    if (line.settled === undefined && !line.sending) {
      line.withdrawn = true;
      line.withdraw.abort(new Error("withdrawn by cancel_action"));
    }
    const result = await line.outcome;
    return result.action === undefined ? result : undefined;
  }

  /**
   * Withdraws a request queued on another replica, in one atomic step with that replica's own claim
   * to send it: one or the other wins. Its owner stops it at its next sync, and never sends it.
   */
  private async withdrawElsewhere(requestId: string): Promise<SubmittedRequest | undefined> {
    if (!this.registry.shared || !looksLikeRequestId(requestId)) return undefined;
    const record = await this.registry.withdraw(requestId);
    if (record?.state !== "withdrawn") return undefined;
    const { machineId } = record;
    this.logger.info(
      { requestId, machineId, owner: record.owner },
      "a request queued on another replica withdrawn",
    );
    return {
      ...withoutAction({ requestId, machineId, machine: record.machine ?? undefined }),
      withdrawn: true,
    };
  }

  /** Every request still queued, with its place, in the order they were made. */
  queue(): SubmittedRequest[] {
    return [...this.requests.entries()].flatMap(([requestId, { machineId, line }]) =>
      line && line.settled === undefined && !line.sending && !line.withdrawn
        ? [this.queuedEntry({ requestId, machineId, machine: line.machine }, line)]
        : [],
    );
  }

  /**
   * Resolves once every request this process had has its outcome and the shared index has heard
   * it (call after `close`, before the index's connection closes): a withdrawn request must not be
   * left queued there for another replica to adopt. Nor is a poll round left in flight.
   */
  async flush(): Promise<void> {
    await Promise.all([...this.requests.values()].map(({ line }) => line?.outcome));
    await Promise.all([...this.writes.values()]);
    await this.poller.settled();
  }

  /** Withdraws every request still queued (none is submitted after the service is closed) and stops polling. */
  close(): void {
    this.closed = true;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
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
    const { requestId, actionId } = await this.resolve(id);
    // The shared poller's state when fresh (or final) costs no read.
    const cached = this.poller.cached(actionId) ?? (await this.poller.sharedState(actionId));
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
    const { requestId, actionId } = await this.resolve(id);
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

  /** A request id (of this process, or of any replica through the shared index), or an MDE action id. */
  private async resolve(id: string): Promise<{ requestId: string | null; actionId: string }> {
    if (typeof id === "string" && looksLikeRequestId(id)) {
      const quoted = JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);
      const record = this.requests.get(id) ?? (await this.resolveElsewhere(id, quoted));
      if (record === undefined) {
        throw new InvalidInputError(
          "action_id",
          this.registry.shared
            ? `no request with id ${quoted} known to any replica of this server (request ids are kept as long as an action can last, 3 days) — use the action_id`
            : `no request with id ${quoted} in this server; request ids live only as long as the server process — use the action_id`,
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

  /** A request of another replica, as the shared index has it. */
  private async resolveElsewhere(id: string, quoted: string): Promise<RequestRecord | undefined> {
    if (!this.registry.shared) return undefined;
    const record = await this.registry.get(id);
    if (record === undefined) return undefined;
    if (record.state === "queued" || record.state === "submitting" || record.state === "withdrawn") {
      throw new InvalidInputError(
        "action_id",
        record.state === "withdrawn"
          ? `request ${quoted} has no action: it was withdrawn before it was sent to device ${record.machineId}`
          : `request ${quoted} has no action yet: it is ${record.state === "queued" ? "queued" : "being submitted"} for device ${record.machineId}; call again in a moment`,
      );
    }
    return {
      machineId: record.machineId,
      actionId: record.actionId ?? undefined,
      error: record.failure ?? "its submit failed",
    };
  }
}

/** A device's entry that has no action (queued, withdrawn, or failed): the fields every such entry shares. */
function withoutAction(
  request: Pick<SubmittedRequest, "requestId" | "machineId" | "machine">,
): SubmittedRequest {
  return { ...request, action: undefined, error: undefined, merged: false, recovered: false };
}
