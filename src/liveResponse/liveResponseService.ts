import { scaleMs } from "../config/time.js";
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
import { followActions, followKnownActions, type FollowOptions } from "./actionWaiter.js";
import { CommandResults } from "./commandResults.js";
import { DeviceBusyError, DeviceLocks } from "./deviceLocks.js";
import {
  correlationTag,
  looksLikeRequestId,
  newRequestId,
  requestIdInComment,
  taggedComment,
} from "./requestIds.js";
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
  /** Seconds between polls of one action, real-world (default 5), divided by timeScale. */
  pollIntervalSeconds?: number;
  /** Extra CA for result blob downloads (the simulator's); default: system trust. */
  blobCa?: CaOption;
  /** Largest RunScript result JSON to download (default 64 MiB) and largest collected file (default 3 GiB, the API's GetFile limit). */
  maxScriptResultBytes?: number;
  maxFileBytes?: number;
  /** MDE_MAX_SESSIONS: live response actions this server keeps in flight at most (default 25). */
  maxSessions?: number;
  /** Real-world seconds before a lost submit is looked up a second time (default 2), divided by timeScale. */
  lookAgainSeconds?: number;
  logger?: Logger;
}

export const DEFAULT_POLL_INTERVAL_SECONDS = 5;
export const DEFAULT_MAX_SCRIPT_RESULT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_FILE_BYTES = 3 * 1024 * 1024 * 1024;
export const DEFAULT_LOOK_AGAIN_SECONDS = 2;

/** What this process remembers of a request id; ids are not persisted. */
interface RequestRecord {
  machineId: string;
  actionId: string | undefined;
  error: unknown;
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
  private readonly pollIntervalMs: number;
  private readonly results: CommandResults;
  private readonly tracker: SessionTracker;
  private readonly locks: DeviceLocks;
  private readonly reconciler: SubmitReconciler;
  private readonly requests = new Map<string, RequestRecord>();
  /** The first request that produced each action (a merged request points at another's action). */
  private readonly requestOfAction = new Map<string, string>();

  constructor(deps: LiveResponseDeps) {
    this.client = deps.client;
    this.logger = deps.logger ?? createLogger();
    this.pollIntervalMs = scaleMs(
      positive(deps.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS, "pollIntervalSeconds") * 1000,
      deps.timeScale,
    );
    this.results = new CommandResults({
      client: deps.client,
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
      client: deps.client,
      maxSessions: deps.maxSessions,
      refreshIntervalMs: this.pollIntervalMs,
      logger: this.logger,
    });
    this.locks = new DeviceLocks(this.tracker);
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
    const limits: WaitLimits = { deadline: performance.now() + waitMs, signal: options.signal };
    const submitted: SubmittedRequest[] = [];
    for (const machineId of machineIds) {
      submitted.push(await this.submitOne(machineId, input.commands, comment, limits));
    }
    return submitted;
  }

  private async submitOne(
    machineId: string,
    commands: LiveResponseCommand[],
    comment: string,
    limits: WaitLimits,
  ): Promise<SubmittedRequest> {
    const options = { signal: limits.signal };
    const requestId = newRequestId();
    const failed = (machine: Machine | undefined, error: unknown): SubmittedRequest => {
      this.requests.set(requestId, { machineId, actionId: undefined, error });
      this.logger.warn(
        {
          requestId,
          machineId,
          code: (error as { code?: unknown }).code,
          outcome: submitOutcome(error),
        },
        "live response submit failed",
      );
      return { requestId, machineId, machine, action: undefined, error, merged: false, recovered: false };
    };
    const aborted = () =>
      DefenderNetworkError.from(options.signal?.reason, "runLiveResponse", {
        dispatched: false,
        aborted: true,
      });

    let machine: Machine | undefined;
    try {
      machine = await this.client.getMachine(machineId, options);
    } catch (error) {
      // An unknown device would only spend a submit from the 10-per-minute budget on the same 404.
      if ((error instanceof DefenderApiError && error.status === 404) || options.signal?.aborted) {
        return failed(undefined, error);
      }
      this.logger.debug(
        { machineId, code: (error as { code?: unknown }).code },
        "device not read; submitting anyway",
      );
    }

    // The caller may stop this request before a device's submit is sent, never while it is under way:
    // an abandoned POST can leave an action on the device that nothing here remembers.
    if (options.signal?.aborted) return failed(machine, aborted());

    // The device first, then a session: a request waiting for its device holds no session meanwhile.
    const device = await this.locks.acquire(machineId, limits);
    if (device === "aborted") return failed(machine, aborted());
    if (device === "timeout")
      return failed(machine, new DeviceBusyError(machineId, this.locks.holderOf(machineId)));
    const slot = await this.tracker.reserve(limits);
    if (slot !== "granted") {
      this.locks.release(machineId);
      return failed(machine, slot === "aborted" ? aborted() : new SessionCapError(this.tracker.counts()));
    }

    const tag = correlationTag(requestId);
    let action: MachineAction;
    let recovered: boolean;
    try {
      ({ action, recovered } = await this.reconciler.submit(
        machineId,
        { commands, comment: taggedComment(comment, requestId) },
        tag,
        options.signal,
      ));
    } catch (error) {
      this.tracker.unreserve();
      this.locks.release(machineId);
      return failed(machine, error);
    }
    this.locks.bind(machineId, action.id);
    this.tracker.hold(action, machineId);
    // An action that is final already (or is another request's) does not hold this device.
    if (!this.tracker.isHeld(action.id)) this.locks.releaseAction(machineId, action.id);
    const merged = !(action.requestorComment ?? "").includes(tag);
    this.remember(requestId, machineId, action.id);
    this.logger.info(
      { requestId, machineId, actionId: action.id, merged, recovered },
      "live response action submitted",
    );
    return { requestId, machineId, machine, action, error: undefined, merged, recovered };
  }

  private remember(requestId: string, machineId: string, actionId: string): void {
    this.requests.set(requestId, { machineId, actionId, error: undefined });
    const actionKey = actionId.toLowerCase();
    if (!this.requestOfAction.has(actionKey)) this.requestOfAction.set(actionKey, requestId);
  }

  async waitForFinal(actionIds: string[], options: WaitOptions): Promise<MachineAction[]> {
    return this.observed(await followActions(this.client, actionIds, this.followOptions(options)));
  }

  async follow(actions: readonly MachineAction[], options: WaitOptions): Promise<FollowedAction[]> {
    const followed = await followKnownActions(this.client, actions, this.followOptions(options));
    this.observed(followed.map((f) => f.action));
    return followed;
  }

  /** Every poll round's states reach the session tracker, so a slot frees as soon as a poll sees it final. */
  private followOptions(options: WaitOptions): FollowOptions {
    return {
      ...options,
      onProgress: (progress) => {
        this.observed(progress.actions);
        options.onProgress?.(progress);
      },
      intervalMs: this.pollIntervalMs,
      logger: this.logger,
    };
  }

  private observed<T extends readonly MachineAction[]>(actions: T): T {
    for (const action of actions) this.tracker.observe(action);
    return actions;
  }

  async getAction(
    id: string,
    options: CallOptions = {},
  ): Promise<{ requestId: string | null; action: MachineAction }> {
    const { requestId, actionId } = this.resolve(id);
    const action = await this.client.getMachineAction(actionId, options);
    this.tracker.observe(action);
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
      this.tracker.observe(action);
      return { requestId, action, alreadyFinal: false };
    } catch (error) {
      // Defender answers 400 to a cancel of a final action; cancelling is idempotent, so read the
      // action to tell that case from a cancel refused for another reason.
      if (!(error instanceof DefenderApiError && error.status === 400)) throw error;
      const action = await this.client.getMachineAction(actionId, options);
      this.tracker.observe(action);
      if (!isFinalActionStatus(action.status)) throw error;
      return { requestId, action, alreadyFinal: true };
    }
  }

  async commandResults(action: MachineAction, options: CallOptions = {}): Promise<CommandResultData[]> {
    this.tracker.observe(action);
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
