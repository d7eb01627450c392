import { setTimeout as sleep } from "node:timers/promises";
import type { DefenderClient, RunLiveResponseRequest } from "../defender/defenderClient.js";
import type { Admission } from "../defender/httpTransport.js";
import { submitOutcome } from "../defender/errors.js";
import type { MachineAction } from "../defender/schemas.js";
import type { Logger } from "../logger.js";

/** How far back an action created by our submit may be dated: the API's clock is not ours. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** A submit that may have created an action, which could not be found, and was not sent a third time. */
export class SubmitOutcomeUnknownError extends Error {
  override readonly name = "SubmitOutcomeUnknownError";
  readonly code = "SUBMIT_OUTCOME_UNKNOWN";
  readonly machineId: string;
  /** The correlation tag the action would carry in its comment. */
  readonly tag: string;

  constructor(machineId: string, tag: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `outcome unknown: the submit to device ${machineId} failed in a way that may have reached Defender (${why}), ` +
        `and no action tagged ${tag} was found; check the device's actions with get_action or find before retrying`,
      { cause },
    );
    this.machineId = machineId;
    this.tag = tag;
  }
}

export interface ReconciledSubmit {
  action: MachineAction;
  /** The submit's answer was lost and the action was found by its tag instead. */
  recovered: boolean;
}

export interface SubmitReconcilerOptions {
  client: DefenderClient;
  /** Before looking an action up a second time, already divided by the time scale. */
  lookAgainAfterMs: number;
  logger: Logger;
}

/**
 * Sends a submit so that an unclear failure never makes a second action: after a failure that may
 * have executed (`submitOutcome` "unknown"), the action is looked up by its correlation tag, twice,
 * before the submit is sent once more; a failure that certainly did not execute is passed on as it
 * is. Every send and look goes through the client's limiters.
 */
export class SubmitReconciler {
  constructor(private readonly options: SubmitReconcilerOptions) {}

  /**
   * `tag` must be in `request.comment`. The signal only stops a second send: once a submit is out,
   * its outcome is settled whatever the caller does.
   */
  async submit(
    machineId: string,
    request: RunLiveResponseRequest,
    tag: string,
    signal?: AbortSignal,
    admission?: Admission,
  ): Promise<ReconciledSubmit> {
    const since = new Date(Date.now() - CLOCK_SKEW_MS);
    const first = await this.send(machineId, request, admission);
    if ("action" in first) return { action: first.action, recovered: false };

    const found = await this.lookUp(machineId, tag, since, 2, first.error);
    if (found) return { action: found, recovered: true };
    if (signal?.aborted) throw new SubmitOutcomeUnknownError(machineId, tag, first.error);

    this.options.logger.warn(
      { machineId, tag },
      "submit outcome unknown and no action found; sending it once more",
    );
    const second = await this.send(machineId, request, admission);
    if ("action" in second) return { action: second.action, recovered: false };
    const late = await this.lookUp(machineId, tag, since, 1, second.error);
    if (late) return { action: late, recovered: true };
    throw new SubmitOutcomeUnknownError(machineId, tag, second.error);
  }

  /**
   * A submit another replica may have sent before it died (`madeAt`: epoch ms when the request was
   * made): the action carrying `tag` is looked for first, twice, and the request is sent only if
   * none is found, as `submit` sends it.
   */
  async submitUnlessFound(
    machineId: string,
    request: RunLiveResponseRequest,
    tag: string,
    madeAt: number,
    admission?: Admission,
  ): Promise<ReconciledSubmit> {
    const since = new Date(madeAt - CLOCK_SKEW_MS);
    const unknown = new Error("the replica that was sending it died");
    const found = await this.lookUp(machineId, tag, since, 2, unknown);
    if (found) return { action: found, recovered: true };
    return this.submit(machineId, request, tag, undefined, admission);
  }

  /** One send; a failure that certainly did not execute is thrown, an unclear one returned. */
  private async send(
    machineId: string,
    request: RunLiveResponseRequest,
    admission: Admission | undefined,
  ): Promise<{ action: MachineAction } | { error: unknown }> {
    try {
      return { action: await this.options.client.runLiveResponse(machineId, request, { admission }) };
    } catch (error) {
      if (submitOutcome(error) !== "unknown") throw error;
      return { error };
    }
  }

  /**
   * Looks the action up `times` times, a pause apart (the list may lag behind the submit). A look
   * that fails leaves the outcome open, and an open outcome is never answered with another send.
   */
  private async lookUp(
    machineId: string,
    tag: string,
    since: Date,
    times: number,
    sendError: unknown,
  ): Promise<MachineAction | undefined> {
    for (let look = 0; look < times; look++) {
      if (look > 0) await sleep(this.options.lookAgainAfterMs);
      let found: MachineAction[];
      try {
        found = await this.options.client.findLiveResponseActionsByComment(machineId, tag, since);
      } catch (error) {
        this.options.logger.warn(
          { machineId, tag, code: (error as { code?: unknown }).code },
          "looking up a submit with an unknown outcome failed",
        );
        throw new SubmitOutcomeUnknownError(machineId, tag, sendError);
      }
      if (found.length > 1) {
        this.options.logger.error({ machineId, tag, actions: found.length }, "several actions carry one tag");
      }
      const [action] = found;
      if (action) {
        this.options.logger.info(
          { machineId, actionId: action.id, tag },
          "submit outcome recovered by its tag",
        );
        return action;
      }
    }
    return undefined;
  }
}
