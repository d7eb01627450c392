import { z } from "zod";
import { MachineSchema } from "../defender/schemas.js";
import type { QueuePlace } from "./types.js";

/**
 * Where a request stands in the correlation index every replica shares: `queued` (withdrawable by
 * anyone), `submitting` (its owner took it out of the queue to send it; only the owner settles it),
 * then `submitted`, `failed` or `withdrawn` for good.
 */
export const RequestStateSchema = z.enum(["queued", "submitting", "submitted", "failed", "withdrawn"]);
export type RequestState = z.infer<typeof RequestStateSchema>;

export const QueuePlaceSchema = z.object({
  position: z.number().int(),
  of: z.number().int(),
  waitingFor: z.enum(["session", "device", "submit"]),
  estimateSeconds: z.number().nullable(),
  busyActionId: z.string().optional(),
}) satisfies z.ZodType<QueuePlace>;

export const LiveResponseCommandSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("PutFile"), fileName: z.string() }),
  z.object({ type: z.literal("RunScript"), scriptName: z.string(), args: z.string().optional() }),
  z.object({ type: z.literal("GetFile"), path: z.string() }),
]);

/** What a replica that adopts a queued request needs to send it as its owner would have. */
export const PendingSendSchema = z.object({
  commands: z.array(LiveResponseCommandSchema),
  /** The caller's comment, before the correlation tag is added. */
  comment: z.string(),
  /** Epoch ms when the request was made: a lookup by its tag need not look further back. */
  since: z.number(),
});
export type PendingSend = z.infer<typeof PendingSendSchema>;

/** One device's request as every replica sees it. */
export const SharedRequestSchema = z.object({
  requestId: z.string(),
  machineId: z.string(),
  /** The replica that submits it (the one that took it, or the one that adopted it after that one died). */
  owner: z.string(),
  state: RequestStateSchema,
  actionId: z.string().nullable(),
  /** Why its submit failed, in words (state `failed`). */
  failure: z.string().nullable(),
  /** Its place in its owner's lines, as the owner last wrote it (state `queued`). */
  place: QueuePlaceSchema.nullable(),
  machine: MachineSchema.nullable(),
  /** Kept while it has no action (states `queued` and `submitting`). */
  send: PendingSendSchema.nullable(),
});
export type SharedRequest = z.infer<typeof SharedRequestSchema>;

/** The owner's last word on a request. */
export type RequestOutcome =
  { state: "submitted"; actionId: string } | { state: "failed"; failure: string } | { state: "withdrawn" };

/** An action in flight at Defender and the request whose tag it carries. */
export interface InFlightAction {
  requestId: string;
  machineId: string;
  actionId: string;
}

/** What `beginSubmit` found: the owner may send it, someone withdrew it, or it is no longer this owner's. */
export type SubmitClaim = "granted" | "withdrawn" | "handed-over";

/**
 * The correlation index of request ids (`req_…`): which device, which action, why a submit failed,
 * a queued request's place, and who owns it. With one process the service's own memory is the whole
 * index (LocalRequestRegistry); replicas share one in Redis, so any of them answers get_action and
 * cancel_action for a request another took, and a dead replica's queued requests are adopted by a
 * live one. Every state change is atomic on the shared side: queued → withdrawn by anyone, queued →
 * submitting only by the owner, so a request withdrawn anywhere is never sent.
 */
export interface RequestRegistry {
  /** True when other replicas share the index (records outlive this process). */
  readonly shared: boolean;
  /** This replica's name in the records it owns. */
  readonly owner: string;
  /**
   * True while no other replica can take this one for dead. False the moment its liveness lease can
   * no longer be trusted (it was frozen or cut off from Redis): others may adopt its requests meanwhile.
   */
  isAlive(): boolean;
  /** Called when this replica's liveness is lost (false) and when it is held again (true). */
  onLivenessChange(listener: (alive: boolean) => void): void;
  /** Records a request as queued here. */
  queue(record: SharedRequest): Promise<void>;
  /** A request by id, whoever took it; undefined when no replica knows it (or it expired). */
  get(requestId: string): Promise<SharedRequest | undefined>;
  /** queued → withdrawn, by any replica. Returns the record as it is after (undefined: unknown id). */
  withdraw(requestId: string): Promise<SharedRequest | undefined>;
  /**
   * queued → submitting, right before the submit call: only by its owner and only if nobody withdrew
   * it. A record the index lost (a Redis that came back empty) is written again from `record` first.
   */
  beginSubmit(record: SharedRequest): Promise<SubmitClaim>;
  /** The owner's last word (also for a request that never queued): the record lasts for the index's lifetime. */
  settle(
    record: Pick<SharedRequest, "requestId" | "machineId" | "machine">,
    outcome: RequestOutcome,
  ): Promise<void>;
  /**
   * Writes the places of this owner's queued requests, and returns those that are no longer its to
   * submit: withdrawn elsewhere, adopted by another replica, or lost by the index (to be written again).
   */
  publishPlaces(
    places: ReadonlyMap<string, QueuePlace>,
  ): Promise<{ withdrawn: string[]; handedOver: string[]; missing: string[] }>;
  /** Called with each request of a dead replica this one adopted (claimed atomically, so by one replica only). */
  onAdopted(listener: (record: SharedRequest) => void): void;
  /**
   * Called with the submitted requests of dead replicas whose actions were still in flight, once
   * adopted (atomically, as above): this replica counts their sessions and follows them to final.
   */
  onAdoptedInFlight(listener: (records: SharedRequest[]) => void): void;
  /**
   * Makes these actions in flight this replica's to follow, unless a live replica owns their requests:
   * those whose record is this replica's, whose owner died, or that have no record. Returns the
   * request ids now this replica's (`mine`) and the others; undefined while this replica is not
   * alive (it can tell no owner from itself then).
   */
  claimInFlight(
    actions: readonly InFlightAction[],
  ): Promise<{ mine: string[]; others: string[] } | undefined>;
  /** These requests' actions are final: no replica need adopt them any more. */
  finished(requestIds: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * One process: nothing to share, every request is this owner's, and the service's own memory answers
 * for it. Nothing can withdraw or adopt a request behind the service's back.
 */
export class LocalRequestRegistry implements RequestRegistry {
  readonly shared = false;
  readonly owner = "local";

  isAlive(): boolean {
    return true;
  }

  onLivenessChange(): void {}

  async queue(): Promise<void> {}

  async get(): Promise<SharedRequest | undefined> {
    return undefined;
  }

  async withdraw(): Promise<SharedRequest | undefined> {
    return undefined;
  }

  async beginSubmit(): Promise<SubmitClaim> {
    return "granted";
  }

  async settle(): Promise<void> {}

  async publishPlaces(): Promise<{ withdrawn: string[]; handedOver: string[]; missing: string[] }> {
    return { withdrawn: [], handedOver: [], missing: [] };
  }

  onAdopted(): void {}

  onAdoptedInFlight(): void {}

  async claimInFlight(actions: readonly InFlightAction[]): Promise<{ mine: string[]; others: string[] }> {
    return { mine: actions.map((a) => a.requestId), others: [] };
  }

  async finished(): Promise<void> {}

  async close(): Promise<void> {}
}
