import { randomBytes } from "node:crypto";
import { scaleMs } from "../config/time.js";
import {
  SharedRequestSchema,
  type InFlightAction,
  type RequestOutcome,
  type RequestRegistry,
  type SharedRequest,
  type SubmitClaim,
} from "../liveResponse/requestRegistry.js";
import type { QueuePlace } from "../liveResponse/types.js";
import type { Logger } from "../logger.js";
import type { CoordinationRedis } from "./coordinationRedis.js";
import type { Lease } from "./lease.js";
import { leaseSettings, type LeaseSettings, type LeaseSettingsOptions } from "./leaseSettings.js";
import { RedisLocks } from "./redisLocks.js";
import {
  ADOPT,
  BEGIN_SUBMIT,
  CLAIM_IN_FLIGHT,
  FINISHED,
  GET,
  PUBLISH_PLACES,
  QUEUE,
  SETTLE,
  WITHDRAW,
} from "./requestScripts.js";

/**
 * How long a request's record lasts (real time, divided by the time scale): the longest an action
 * can stay in flight (an offline device's action times out after 3 days), and an hour to read it.
 */
export const REQUEST_RECORD_TTL_MS = (3 * 24 + 1) * 3_600_000;

export type RedisRequestRegistryOptions = LeaseSettingsOptions;

/**
 * The correlation index of request ids in Redis, shared by every replica (see RequestRegistry). Each
 * replica holds a liveness lease while it runs; every third of a lease it looks for replicas whose
 * lease lapsed and adopts the requests they still had to submit and the actions they still followed.
 * A replica's name is new each time its process starts: a restarted one's former self is a dead
 * replica like any other.
 */
export class RedisRequestRegistry implements RequestRegistry {
  readonly shared = true;
  readonly owner = `replica-${randomBytes(9).toString("base64url")}`;
  private readonly settings: LeaseSettings;
  private readonly logger: Logger;
  private readonly locks: RedisLocks;
  private readonly ttlMs: number;
  private readonly listeners: Array<(record: SharedRequest) => void> = [];
  private readonly inFlightListeners: Array<(records: SharedRequest[]) => void> = [];
  private readonly livenessListeners: Array<(alive: boolean) => void> = [];
  private liveness: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: CoordinationRedis,
    options: RedisRequestRegistryOptions = {},
  ) {
    this.settings = leaseSettings(options, "request-registry");
    this.logger = this.settings.logger;
    this.locks = new RedisLocks(redis, options);
    this.ttlMs = Math.ceil(scaleMs(REQUEST_RECORD_TTL_MS, options.timeScale ?? 1));
  }

  /** Takes this replica's liveness lease (and takes it again whenever it is lost) and starts adopting. */
  start(): void {
    if (this.timer !== undefined || this.closed) return;
    const tick = async () => {
      try {
        if (!this.liveness?.isHeld()) await this.takeLiveness();
        if (this.liveness?.isHeld()) await this.adoptOrphans();
      } catch (error) {
        this.logger.warn(
          { code: (error as { code?: unknown }).code },
          "could not look for dead replicas' requests",
        );
      }
      if (!this.closed) this.timer = setTimeout(() => void tick(), this.settings.leaseMs / 3).unref();
    };
    this.timer = setTimeout(() => void tick(), 0).unref();
  }

  isAlive(): boolean {
    return this.liveness?.isHeld() ?? false;
  }

  onLivenessChange(listener: (alive: boolean) => void): void {
    this.livenessListeners.push(listener);
  }

  onAdopted(listener: (record: SharedRequest) => void): void {
    this.listeners.push(listener);
  }

  onAdoptedInFlight(listener: (records: SharedRequest[]) => void): void {
    this.inFlightListeners.push(listener);
  }

  async claimInFlight(
    actions: readonly InFlightAction[],
  ): Promise<{ mine: string[]; others: string[] } | undefined> {
    if (actions.length === 0) return { mine: [], others: [] };
    const reply = await this.redis.run(
      CLAIM_IN_FLIGHT,
      [],
      [
        this.settings.prefix,
        this.owner,
        this.ttlMs,
        ...actions.flatMap((a) => [a.requestId, a.machineId, a.actionId]),
      ],
    );
    if (!Array.isArray(reply)) return undefined;
    const [mine = [], others = []] = reply as string[][];
    return { mine, others };
  }

  async finished(requestIds: readonly string[]): Promise<void> {
    if (requestIds.length === 0) return;
    await this.redis.run(FINISHED, [], [this.settings.prefix, this.owner, ...requestIds]);
  }

  async queue(record: SharedRequest): Promise<void> {
    await this.redis.run(
      QUEUE,
      [this.key(record.requestId)],
      [
        this.settings.prefix,
        record.requestId,
        this.owner,
        record.machineId,
        json(record.place),
        json(record.machine),
        json(record.send),
        this.ttlMs,
      ],
    );
  }

  async get(requestId: string): Promise<SharedRequest | undefined> {
    return this.parse(requestId, await this.redis.run(GET, [this.key(requestId)], []));
  }

  async withdraw(requestId: string): Promise<SharedRequest | undefined> {
    const fields = await this.redis.run(WITHDRAW, [this.key(requestId)], [this.settings.prefix, requestId]);
    return this.parse(requestId, fields);
  }

  async beginSubmit(record: SharedRequest): Promise<SubmitClaim> {
    const claim = await this.redis.run(BEGIN_SUBMIT, [this.key(record.requestId)], [this.owner]);
    if (claim === "missing") {
      // The index lost it (Redis came back empty): nobody can have withdrawn it since.
      await this.queue(record);
      return this.beginSubmit(record);
    }
    if (claim === "granted" || claim === "handed-over") return claim;
    return "withdrawn";
  }

  async settle(
    record: Pick<SharedRequest, "requestId" | "machineId" | "machine">,
    outcome: RequestOutcome,
  ): Promise<void> {
    await this.redis.run(
      SETTLE,
      [this.key(record.requestId)],
      [
        this.settings.prefix,
        record.requestId,
        this.owner,
        outcome.state,
        outcome.state === "submitted" ? outcome.actionId : "",
        outcome.state === "failed" ? outcome.failure : "",
        record.machineId,
        json(record.machine),
        this.ttlMs,
      ],
    );
  }

  async publishPlaces(
    places: ReadonlyMap<string, QueuePlace>,
  ): Promise<{ withdrawn: string[]; handedOver: string[]; missing: string[] }> {
    const args = [...places].flatMap(([id, place]) => [id, JSON.stringify(place)]);
    const [withdrawn = [], handedOver = [], missing = []] = (await this.redis.run(
      PUBLISH_PLACES,
      [],
      [this.settings.prefix, this.owner, ...args],
    )) as string[][];
    return { withdrawn, handedOver, missing };
  }

  /** Stops adopting and gives the liveness lease up: what this replica still had queued is adopted by another. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.liveness?.release();
  }

  private async takeLiveness(): Promise<void> {
    const lease = await this.locks.tryAcquire(`replica:${this.owner}`);
    if (lease === undefined) return;
    if (this.closed) {
      await lease.release();
      return;
    }
    this.liveness = lease;
    lease.onLost(() => {
      if (this.liveness !== lease || this.closed) return;
      // Others may be adopting its requests meanwhile: it takes the lease again at its next look.
      this.liveness = undefined;
      this.logger.warn("lost this replica's liveness lease; other replicas may adopt its queued requests");
      for (const listener of this.livenessListeners) listener(false);
    });
    for (const listener of this.livenessListeners) listener(true);
  }

  private async adoptOrphans(): Promise<void> {
    const [ids = [], inFlightIds = []] = (await this.redis.run(
      ADOPT,
      [],
      [this.settings.prefix, this.owner],
    )) as string[][];
    for (const id of ids) {
      const record = await this.get(id);
      if (record === undefined) continue;
      this.logger.info({ requestId: id, state: record.state }, "adopted a request of a replica that died");
      for (const listener of this.listeners) listener(record);
    }
    const inFlight: SharedRequest[] = [];
    for (const id of inFlightIds) {
      const record = await this.get(id);
      if (record?.actionId) inFlight.push(record);
    }
    if (inFlight.length === 0) return;
    this.logger.info(
      { actions: inFlight.map((r) => r.actionId) },
      "adopted the actions in flight of a replica that died",
    );
    for (const listener of this.inFlightListeners) listener(inFlight);
  }

  private parse(requestId: string, reply: unknown): SharedRequest | undefined {
    const fields = reply as string[];
    if (fields.length === 0) return undefined;
    const hash = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) hash.set(fields[i]!, fields[i + 1]!);
    const text = (name: string) => (hash.get(name) ? hash.get(name)! : null);
    const parsed = (name: string): unknown => (hash.get(name) ? JSON.parse(hash.get(name)!) : null);
    return SharedRequestSchema.parse({
      requestId,
      machineId: hash.get("machineId"),
      owner: hash.get("owner"),
      state: hash.get("state"),
      actionId: text("actionId"),
      failure: text("failure"),
      place: parsed("place"),
      machine: parsed("machine"),
      send: parsed("send"),
    });
  }

  private key(requestId: string): string {
    return `${this.settings.prefix}:request:${requestId}`;
  }
}

/** null as the empty string: a hash field holds strings only. */
function json(value: unknown): string {
  return value === null || value === undefined ? "" : JSON.stringify(value);
}
