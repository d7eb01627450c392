import type { LiveResponseCommand } from "../defender/defenderClient.js";
import type { Machine, MachineAction } from "../defender/schemas.js";

/**
 * The live response domain as the tools see it: submit one action per device, follow actions to a
 * final status, read every command's result, cancel. Shapes here are the domain's (camelCase); the
 * tools turn them into the snake_case results of the external interface.
 */

/** One device's part of a request. `requestId` is ours; `action` is absent when the submit failed. */
export interface SubmittedRequest {
  requestId: string;
  machineId: string;
  /** The device as read before submitting (name, health); absent when it could not be read. */
  machine: Machine | undefined;
  action: MachineAction | undefined;
  /** Why this device's submit failed (a DefenderApiError, DefenderNetworkError, …); absent on success. */
  error: unknown;
  /** The API handed back an existing action instead of a new one (identical requests merge, reference §9.16). */
  merged: boolean;
  /** The submit's answer was lost (reset, 5xx, bad body) and the action was found by its tag instead. */
  recovered: boolean;
  /** Still waiting in this server's line (no action, no error yet): it is submitted when its turn comes. */
  queued?: QueuePlace;
  /** Withdrawn while queued: it was never submitted. */
  withdrawn?: true;
}

/** Where a queued request stands. */
export interface QueuePlace {
  /** 1: next in line for what it waits for; 0: its turn came and the submit is under way. */
  position: number;
  /** How many wait in that line, this request included. */
  of: number;
  /**
   * Its device's turn (another action of this server runs there), a session slot (the cap is reached),
   * or a place in the tenant's submit budget (10 a minute).
   */
  waitingFor: "session" | "device" | "submit";
  /**
   * Wall-clock seconds until its submit, estimated from how long this server's actions held their slots
   * (device, session) or from the submit budget (submit); null when nothing supports an estimate.
   */
  estimateSeconds: number | null;
  /** While it waits for its device: the action of this server running there (undefined while that one's submit is under way). */
  busyActionId?: string | undefined;
}

export interface WaitProgress {
  /** How many of the followed actions are final. */
  done: number;
  total: number;
  /** The latest state of every followed action. */
  actions: MachineAction[];
  /** A one-line human summary, e.g. "fin-ws-0142: InProgress (command 1 of 2)". */
  message: string;
}

/** An action followed from a state already read; `pollError` is why its latest poll failed (undefined when it did not). */
export interface FollowedAction {
  action: MachineAction;
  pollError: unknown;
}

export interface WaitOptions {
  /** Wall-clock milliseconds to wait at most (never scaled). 0: read once, do not wait. */
  waitMs: number;
  signal?: AbortSignal;
  onProgress?: (progress: WaitProgress) => void;
}

export interface RunScriptResultData {
  type: "RunScript";
  index: number;
  exitCode: number | null;
  /** The whole output, NUL and control characters removed (newlines and tabs kept). */
  output: string;
  /** script_errors, cleaned the same way. */
  errors: string;
  /** Where the full output is kept on disk (for people; never needed by the model). */
  outputPath: string;
}

export interface GetFileResultData {
  type: "GetFile";
  index: number;
  /** The collected file itself, after extraction. */
  savedPath: string;
  bytes: number;
  sha256: string;
  /** What the API delivered. */
  format: "zip" | "gzip" | "raw";
  /** SHA-256 of the download when it was an archive, else null. */
  archiveSha256: string | null;
}

/** A command with nothing to fetch: PutFile, a command that did not complete, or a result that failed to download. */
export interface NoResultData {
  type: "PutFile" | "RunScript" | "GetFile" | string;
  index: number;
  /** Why there is no result, in words an agent can act on. */
  reason: string;
  /** The result is still being fetched (the caller stopped waiting for it); asking again later serves it. */
  fetching?: true;
}

export type CommandResultData = RunScriptResultData | GetFileResultData | NoResultData;

export interface CallOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions extends CallOptions {
  /**
   * Wall-clock milliseconds (never scaled) the whole submit may wait for busy devices and session
   * slots; default 0: a device whose turn has not come fails at once (or is queued, see `queue`).
   */
  waitMs?: number;
  /**
   * A device whose turn has not come within `waitMs` keeps its place and is submitted in the background,
   * for the life of the service, instead of failing: its entry comes back with `queued`. An abort
   * before `waitMs` runs out still withdraws it.
   */
  queue?: boolean;
  /**
   * Called once per device as soon as its entry for this call is known (submitted, failed, withdrawn, or
   * queued when the wait ran out), in the order they become known, so a batch reports as it goes.
   */
  onEntry?: (entry: SubmittedRequest) => void;
}

export interface LiveResponseApi {
  /**
   * Submits one action per device, all devices at once, each taking its turn in order: its device, a
   * session slot, then the submit budget. A device busy with an action of this server, or a full
   * session cap, waits its turn within `waitMs`, then fails its entry (DeviceBusyError, SessionCapError)
   * or, with `queue`, is returned queued.
   * Input mistakes (bad id, order rule, forbidden Args
   * characters) throw InvalidInputError before any API call; a device's API failure is returned in its
   * entry and does not stop the others.
   */
  submit(
    input: { machineIds: string[]; commands: LiveResponseCommand[]; comment: string },
    options?: SubmitOptions,
  ): Promise<SubmittedRequest[]>;
  /** Follows actions until all are final, `waitMs` runs out or the signal aborts; returns their latest state. */
  waitForFinal(actionIds: string[], options: WaitOptions): Promise<MachineAction[]>;
  /**
   * Like waitForFinal, from states already read (what submit or getAction returned), and it never
   * throws for a failed poll: an action keeps its last known state and carries the poll's failure.
   */
  follow(actions: readonly MachineAction[], options: WaitOptions): Promise<FollowedAction[]>;
  /**
   * A request queued by `submit` that has no action yet: waits up to `waitMs` for its submit, and returns
   * its entry while it is still queued (with its current place), or once its submit failed or it was
   * withdrawn. Undefined once it has an action (read it with getAction), or for any other id. With
   * replicas, a request queued on another replica is answered from the shared index (its place as its
   * owner last wrote it).
   */
  queuedRequest(requestId: string, options: WaitOptions): Promise<SubmittedRequest | undefined>;
  /**
   * Withdraws a request still queued, so it is never submitted, and returns its entry (`withdrawn`); a
   * request whose queued submit failed comes back as it is. Undefined when the id names no queued
   * request or its action exists (waiting for a submit under way): cancel the action instead. With
   * replicas, a request queued on another replica is withdrawn too, until that replica claims it to
   * send it.
   */
  withdraw(requestId: string): Promise<SubmittedRequest | undefined>;
  /** An action by MDE action id or by our request id. */
  getAction(id: string, options?: CallOptions): Promise<{ requestId: string | null; action: MachineAction }>;
  /**
   * Cancels an action. Cancelling an action that is already final changes nothing and is not an
   * error: the action is returned as it is, with `alreadyFinal` set.
   */
  cancel(
    id: string,
    comment: string,
    options?: CallOptions,
  ): Promise<{ requestId: string | null; action: MachineAction; alreadyFinal?: boolean }>;
  /**
   * Every command's result (fetched once per command, then served from cache); no fetch for commands
   * not Completed. Fetches are shared by concurrent callers and run to the end whatever any caller's
   * signal does; a caller whose signal aborts stops waiting, and gets `fetching` entries for results
   * not fetched yet.
   */
  commandResults(action: MachineAction, options?: CallOptions): Promise<CommandResultData[]>;
  /**
   * Calls `listener` once with each action of this server (submitted or taken back at start) as it is
   * first seen final, by a tool call or by the shared poller with nobody waiting, so every action's end
   * can be recorded even when no caller asks about it again.
   */
  onFinal(listener: (action: MachineAction, requestId: string | null) => void): void;
}
