import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { z } from "zod";
import { scaleMs } from "../config/time.js";
import type { CoordinationRedis } from "../coordination/coordinationRedis.js";
import { DEFAULT_PREFIX } from "../coordination/leaseSettings.js";
import { LuaScript } from "../coordination/luaScript.js";
import { createLogger, type Logger } from "../logger.js";
import type { ApprovalListener, ApprovalStore, Decide, NewApproval } from "./approvalStore.js";
import {
  claimedApproval,
  decidedApproval,
  expiredIfDue,
  newApproval,
  newestFirst,
  withdrawnApproval,
} from "./approvalTransitions.js";
import { waitForDecision } from "./decisionWait.js";
import { PendingApprovalSchema, type PendingApproval } from "./pendingApproval.js";
import { ReviewError } from "./reviewError.js";

export interface RedisApprovalStoreOptions {
  /** The replicas' shared Redis (REDIS_URL): every read and change goes through it. */
  redis: CoordinationRedis;
  /**
   * REDIS_URL again, for the connection that listens for changes: a subscribed connection takes no
   * other command, so it cannot be the coordination one. Never logged.
   */
  url: string;
  timeScale?: number;
  /** The clock expiry is judged by (see the class comment). */
  now?: () => number;
  /** Key prefix every replica of one tenant shares (default "mde"). */
  prefix?: string;
  logger?: Logger;
}

/** How long an approval is kept after its expiry, for the console's history: Defender's own 3 days. */
const KEPT_AFTER_EXPIRY_MS = 3 * 24 * 3600_000;
/** A reviewer's decision being recorded (audit log write) holds the request this long at most (real ms). */
const DECIDING_MS = 30_000;
/** How long open() waits for the change subscription before going on without it for now. */
const SUBSCRIBE_WAIT_MS = 2_000;

/** Each approval is a hash: its JSON, a revision every write increments, and a decision being recorded. */
const READ = new LuaScript("approval-read", `return redis.call('HMGET', KEYS[1], 'json', 'rev', 'deciding')`);

/** KEYS: approval, index. ARGV: json, ttlMs, createdMs, id, channel, message. */
const ADD = new LuaScript(
  "approval-add",
  `
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'rev', 1, 'deciding', '')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`,
);

/**
 * Writes the approval only if no one wrote it since it was read (same revision), and announces it.
 * KEYS: approval. ARGV: revision read, json, ttlMs, deciding, channel, message ('' announces nothing).
 */
const COMPARE_AND_SET = new LuaScript(
  "approval-compare-and-set",
  `
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'rev', tonumber(ARGV[1]) + 1, 'deciding', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return 1
`,
);

/** Newest first: json, revision, deciding of each approval still kept; ids whose approval lapsed leave the index. */
const LIST = new LuaScript(
  "approval-list",
  `
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HMGET', ARGV[1] .. id, 'json', 'rev', 'deciding')
  if fields[1] then
    table.insert(out, fields[1])
    table.insert(out, fields[2])
    table.insert(out, fields[3])
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`,
);

const ChangeSchema = z.object({ rev: z.number().int(), approval: PendingApprovalSchema });

interface Stored {
  approval: PendingApproval;
  rev: string;
  /** `token:deadlineMs` while a reviewer's decision is being recorded; "" otherwise. */
  deciding: string;
}

/**
 * Pending approvals in Redis, so every replica shows the same requests and any replica can decide,
 * claim or withdraw one. Each change is one atomic compare-and-set script (the revision read must
 * still be there), so of two replicas claiming the same approval exactly one gets it, and a decision
 * made elsewhere meanwhile is never overwritten. Every change is published on a channel: listeners on
 * every replica hear it, and a tool call waiting on one replica wakes when a reviewer decides on another.
 *
 * Expiry is judged by the caller's clock (`now`), as the file store judges it: expiry times are shown
 * to reviewers and written to the audit log as the replica computed them, and replicas' clocks differ
 * by far less than an approval lasts (minutes). Redis keeps each approval until 3 days (scaled) past its
 * expiry, so the console's history survives a restart of every replica.
 */
export class RedisApprovalStore implements ApprovalStore {
  private readonly listeners = new Set<ApprovalListener>();
  /** Called when the subscription comes back after an outage: changes may have been missed. */
  private readonly resyncs = new Set<() => void>();
  /** The latest revision announced to listeners, per approval: a change is announced once. */
  private readonly announced = new Map<string, number>();
  private readonly channel: string;
  private readonly index: string;

  private constructor(
    private readonly redis: CoordinationRedis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
    private readonly timeScale: number,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {
    this.channel = `${prefix}:approvals:changes`;
    this.index = `${prefix}:approvals:index`;
  }

  static async open(options: RedisApprovalStoreOptions): Promise<RedisApprovalStore> {
    const logger = (options.logger ?? createLogger()).child({ component: "approvals" });
    const subscriber = new Redis(options.url, {
      // Subscriptions are sent again after every reconnection, and wait for the connection meanwhile.
      autoResubscribe: true,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), 2_000),
    });
    const store = new RedisApprovalStore(
      options.redis,
      subscriber,
      options.prefix ?? DEFAULT_PREFIX,
      options.timeScale ?? 1,
      options.now ?? Date.now,
      logger,
    );
    await store.listen();
    return store;
  }

  async add(request: NewApproval, expiresMinutes: number): Promise<PendingApproval> {
    const now = this.now();
    const approval = newApproval(request, { now, expiresMinutes, timeScale: this.timeScale });
    const json = JSON.stringify(approval);
    await this.redis.run(
      ADD,
      [this.key(approval.id), this.index],
      [json, this.ttlMs(approval), now, approval.id, this.channel, message(1, json)],
    );
    this.announce(approval, 1);
    return approval;
  }

  async get(id: string): Promise<PendingApproval | undefined> {
    return (await this.current(id))?.approval;
  }

  async list(): Promise<PendingApproval[]> {
    const flat = (await this.redis.run(LIST, [this.index], [`${this.prefix}:approval:`])) as Array<
      string | null
    >;
    const all: PendingApproval[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const stored = parseStored(flat[i], flat[i + 1], flat[i + 2]);
      if (stored === undefined) continue;
      const current = expiredIfDue(stored.approval, this.now())
        ? await this.current(stored.approval.id)
        : stored;
      if (current !== undefined) all.push(current.approval);
    }
    // The index orders by creation on the writer's clock; the ISO times settle ties the same way.
    return all.sort(newestFirst);
  }

  async decide(
    id: string,
    decide: Decide,
    expiresMinutes: number,
    record: (decided: PendingApproval) => Promise<void> = async () => {},
  ): Promise<PendingApproval> {
    const token = randomBytes(8).toString("hex");
    for (;;) {
      const stored = await this.current(id);
      const now = this.now();
      const decided = decidedApproval(id, stored?.approval, decide, {
        now,
        expiresMinutes,
        timeScale: this.timeScale,
        deciding: stored !== undefined && decidingHeld(stored.deciding, now),
      });
      if (stored === undefined) return decided; // decidedApproval refused an unknown id already
      // First the request is held for this decision (unchanged, nothing announced), so no other
      // reviewer decides it while the decision is recorded; then the decision itself is written.
      const hold = `${token}:${now + DECIDING_MS}`;
      if (!(await this.compareAndSet(stored, stored.approval, hold, false))) continue;
      const held: Stored = { ...stored, rev: String(Number(stored.rev) + 1), deciding: hold };
      try {
        await record(decided);
      } catch (error) {
        await this.compareAndSet(held, stored.approval, "", false);
        throw error;
      }
      if (!(await this.compareAndSet(held, decided, "", true))) {
        throw new ReviewError(
          "NOT_PENDING",
          "the request changed while this decision was being recorded (it took longer than allowed)",
        );
      }
      return decided;
    }
  }

  async withdraw(id: string): Promise<PendingApproval | undefined> {
    return this.change(id, (approval) => withdrawnApproval(approval));
  }

  async claim(id: string): Promise<PendingApproval | undefined> {
    return this.change(id, (approval) => claimedApproval(approval, this.now()));
  }

  async recordSubmitted(id: string, submitted: NonNullable<PendingApproval["submitted"]>): Promise<void> {
    await this.change(id, (approval) => approval && { ...approval, submitted });
  }

  /**
   * Wakes when the request is decided here or on another replica, and reads it again when the
   * subscription comes back after an outage (a decision may have gone unheard).
   */
  waitForDecision(
    id: string,
    options: { waitMs: number; signal?: AbortSignal | undefined },
  ): Promise<PendingApproval | undefined> {
    return waitForDecision(this, id, { ...options, now: this.now, resyncs: this.resyncs });
  }

  onChange(listener: ApprovalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every change is written before its call returns: nothing is left to wait for. */
  async flush(): Promise<void> {}

  /** Stops listening for changes (the coordination connection is its owner's to close). */
  async close(): Promise<void> {
    this.listeners.clear();
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }

  private key(id: string): string {
    return `${this.prefix}:approval:${id}`;
  }

  /** Kept until 3 days (scaled) past its expiry, however it ended. */
  private ttlMs(approval: PendingApproval): number {
    const left = Date.parse(approval.expires_at) - this.now();
    return Math.max(1, Math.ceil(Math.max(0, left) + scaleMs(KEPT_AFTER_EXPIRY_MS, this.timeScale)));
  }

  /** The request as it stands, expired first when its time is up. */
  private async current(id: string): Promise<Stored | undefined> {
    for (;;) {
      const [json, rev, deciding] = (await this.redis.run(READ, [this.key(id)], [])) as Array<string | null>;
      const stored = parseStored(json, rev, deciding);
      if (stored === undefined) return undefined;
      const expired = expiredIfDue(stored.approval, this.now());
      if (expired === undefined) return stored;
      if (await this.compareAndSet(stored, expired, "", true)) {
        return { approval: expired, rev: String(Number(stored.rev) + 1), deciding: "" };
      }
    }
  }

  /** Reads, asks `next` for the new state (undefined: no change), and writes it if nothing changed meanwhile. */
  private async change(
    id: string,
    next: (approval: PendingApproval | undefined) => PendingApproval | undefined,
  ): Promise<PendingApproval | undefined> {
    for (;;) {
      const stored = await this.current(id);
      const changed = next(stored?.approval);
      if (stored === undefined || changed === undefined) return undefined;
      if (await this.compareAndSet(stored, changed, stored.deciding, true)) return changed;
    }
  }

  private async compareAndSet(
    read: Stored,
    approval: PendingApproval,
    deciding: string,
    announce: boolean,
  ): Promise<boolean> {
    const json = JSON.stringify(approval);
    const rev = Number(read.rev) + 1;
    const written = await this.redis.run(
      COMPARE_AND_SET,
      [this.key(approval.id)],
      [read.rev, json, this.ttlMs(approval), deciding, this.channel, announce ? message(rev, json) : ""],
    );
    if (written !== 1) return false;
    if (announce) this.announce(approval, rev);
    return true;
  }

  /** Tells listeners once per revision, whether the change was made here or heard from another replica. */
  private announce(approval: PendingApproval, rev: number): void {
    if ((this.announced.get(approval.id) ?? 0) >= rev) return;
    this.announced.set(approval.id, rev);
    for (const listener of this.listeners) listener(approval);
  }

  private async listen(): Promise<void> {
    let lost = false;
    this.subscriber.on("error", (error: Error) => {
      if (lost) return;
      lost = true;
      this.logger.warn(
        { err: { message: error.message } },
        "approval changes from other replicas are not heard while Redis is unreachable",
      );
    });
    this.subscriber.on("ready", () => {
      if (!lost) return;
      lost = false;
      this.logger.info("hearing approval changes from other replicas again");
      for (const resync of [...this.resyncs]) resync();
    });
    this.subscriber.on("message", (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let parsed: z.infer<typeof ChangeSchema>;
      try {
        parsed = ChangeSchema.parse(JSON.parse(text));
      } catch {
        this.logger.warn("ignored an approval change that is not in this server's format");
        return;
      }
      this.announce(parsed.approval, parsed.rev);
    });
    const subscribed = this.subscriber.subscribe(this.channel);
    const timeout = new Promise<"timeout">((resolve) =>
      setTimeout(resolve, SUBSCRIBE_WAIT_MS, "timeout").unref(),
    );
    const outcome = await Promise.race([subscribed.then(() => "ok" as const), timeout]).catch(
      () => "failed" as const,
    );
    if (outcome !== "ok") {
      lost = true;
      subscribed.catch(() => undefined);
      this.logger.warn(
        "Redis is unreachable: approval changes from other replicas are heard once it is back",
      );
    }
  }
}

function message(rev: number, json: string): string {
  return `{"rev":${rev},"approval":${json}}`;
}

function parseStored(
  json: string | null | undefined,
  rev: string | null | undefined,
  deciding: string | null | undefined,
): Stored | undefined {
  if (json == null || rev == null) return undefined;
  return { approval: PendingApprovalSchema.parse(JSON.parse(json)), rev, deciding: deciding ?? "" };
}

/** A decision being recorded holds the request until its deadline; a holder that died lets go then. */
function decidingHeld(deciding: string, now: number): boolean {
  if (deciding === "") return false;
  const deadline = Number(deciding.slice(deciding.indexOf(":") + 1));
  return Number.isFinite(deadline) && deadline > now;
}
