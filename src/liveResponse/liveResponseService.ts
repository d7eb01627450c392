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
import { isFinalActionStatus, type Machine, type MachineAction } from "../defender/schemas.js";
import { createLogger, type Logger } from "../logger.js";
import { followActions, followKnownActions, type FollowOptions } from "./actionWaiter.js";
import { CommandResults } from "./commandResults.js";
import { correlationTag, looksLikeRequestId, newRequestId, taggedComment } from "./requestIds.js";
import type {
  CallOptions,
  CommandResultData,
  FollowedAction,
  LiveResponseApi,
  SubmittedRequest,
  WaitOptions,
} from "./types.js";

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
  logger?: Logger;
}

export const DEFAULT_POLL_INTERVAL_SECONDS = 5;
export const DEFAULT_MAX_SCRIPT_RESULT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_FILE_BYTES = 3 * 1024 * 1024 * 1024;

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
  }

  async submit(
    input: { machineIds: string[]; commands: LiveResponseCommand[]; comment: string },
    options: CallOptions = {},
  ): Promise<SubmittedRequest[]> {
    const machineIds = checkMachineIds(input.machineIds);
    assertLiveResponseCommands(input.commands);
    const comment = assertComment(input.comment);
    const submitted: SubmittedRequest[] = [];
    for (const machineId of machineIds) {
      submitted.push(await this.submitOne(machineId, input.commands, comment, options));
    }
    return submitted;
  }

  private async submitOne(
    machineId: string,
    commands: LiveResponseCommand[],
    comment: string,
    options: CallOptions,
  ): Promise<SubmittedRequest> {
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
      return { requestId, machineId, machine, action: undefined, error, merged: false };
    };

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
    if (options.signal?.aborted) {
      return failed(
        machine,
        DefenderNetworkError.from(options.signal.reason, "runLiveResponse", {
          dispatched: false,
          aborted: true,
        }),
      );
    }
    let action: MachineAction;
    try {
      action = await this.client.runLiveResponse(machineId, {
        commands,
        comment: taggedComment(comment, requestId),
      });
    } catch (error) {
      return failed(machine, error);
    }
    const merged = !(action.requestorComment ?? "").includes(correlationTag(requestId));
    const actionKey = action.id.toLowerCase();
    this.requests.set(requestId, { machineId, actionId: action.id, error: undefined });
    if (!this.requestOfAction.has(actionKey)) this.requestOfAction.set(actionKey, requestId);
    this.logger.info({ requestId, machineId, actionId: action.id, merged }, "live response action submitted");
    return { requestId, machineId, machine, action, error: undefined, merged };
  }

  async waitForFinal(actionIds: string[], options: WaitOptions): Promise<MachineAction[]> {
    return followActions(this.client, actionIds, this.followOptions(options));
  }

  async follow(actions: readonly MachineAction[], options: WaitOptions): Promise<FollowedAction[]> {
    return followKnownActions(this.client, actions, this.followOptions(options));
  }

  private followOptions(options: WaitOptions): FollowOptions {
    return { ...options, intervalMs: this.pollIntervalMs, logger: this.logger };
  }

  async getAction(
    id: string,
    options: CallOptions = {},
  ): Promise<{ requestId: string | null; action: MachineAction }> {
    const { requestId, actionId } = this.resolve(id);
    return { requestId, action: await this.client.getMachineAction(actionId, options) };
  }

  async cancel(
    id: string,
    comment: string,
    options: CallOptions = {},
  ): Promise<{ requestId: string | null; action: MachineAction; alreadyFinal: boolean }> {
    const { requestId, actionId } = this.resolve(id);
    try {
      const action = await this.client.cancelMachineAction(actionId, comment, options);
      return { requestId, action, alreadyFinal: false };
    } catch (error) {
      // Defender answers 400 to a cancel of a final action; cancelling is idempotent, so read the
      // action to tell that case from a cancel refused for another reason.
      if (!(error instanceof DefenderApiError && error.status === 400)) throw error;
      const action = await this.client.getMachineAction(actionId, options);
      if (!isFinalActionStatus(action.status)) throw error;
      return { requestId, action, alreadyFinal: true };
    }
  }

  async commandResults(action: MachineAction, options: CallOptions = {}): Promise<CommandResultData[]> {
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
