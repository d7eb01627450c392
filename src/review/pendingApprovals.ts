import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { scaleMs } from "../config/time.js";
import {
  APPROVAL_ID_PREFIX,
  PendingFileSchema,
  type PendingApproval,
  type ReviewDecision,
} from "./pendingApproval.js";
import type { ApprovalListener, ApprovalStore, Decide, NewApproval } from "./approvalStore.js";
import { ReviewError } from "./reviewError.js";

export interface PendingApprovalsOptions {
  /** The JSON file that keeps them across restarts; undefined keeps them in memory only. */
  file: string | undefined;
  timeScale?: number;
  now?: () => number;
}

export type { Decide, NewApproval } from "./approvalStore.js";

/**
 * Requests waiting for a reviewer in the review console, and the decisions on them. Every change is
 * written (to a temporary file, then renamed) before it is announced, so a pending request survives
 * a restart and a decision is never lost with the process.
 */
export class PendingApprovals implements ApprovalStore {
  private readonly listeners = new Set<ApprovalListener>();
  private readonly deciding = new Set<string>();
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string | undefined,
    private readonly approvals: Map<string, PendingApproval>,
    private readonly timeScale: number,
    private readonly now: () => number,
  ) {}

  static async open(options: PendingApprovalsOptions): Promise<PendingApprovals> {
    const approvals = new Map<string, PendingApproval>();
    if (options.file !== undefined) {
      let text: string | undefined;
      try {
        text = await readFile(options.file, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      if (text !== undefined) {
        for (const approval of PendingFileSchema.parse(JSON.parse(text)).approvals)
          approvals.set(approval.id, approval);
      }
    }
    return new PendingApprovals(options.file, approvals, options.timeScale ?? 1, options.now ?? Date.now);
  }

  /** Minutes of the policy, scaled like every server duration. */
  private inMinutes(minutes: number): string {
    return new Date(this.now() + scaleMs(minutes * 60_000, this.timeScale)).toISOString();
  }

  async add(request: NewApproval, expiresMinutes: number): Promise<PendingApproval> {
    const approval: PendingApproval = {
      ...request,
      id: `${APPROVAL_ID_PREFIX}${randomBytes(8).toString("hex")}`,
      status: "pending",
      created_at: new Date(this.now()).toISOString(),
      expires_at: this.inMinutes(expiresMinutes),
    };
    await this.save(approval);
    return approval;
  }

  /** The request as it stands, expired when its time is up. */
  async get(id: string): Promise<PendingApproval | undefined> {
    const approval = this.approvals.get(id);
    if (approval === undefined) return undefined;
    return this.expireIfDue(approval);
  }

  /** Every request, newest first, each expired when its time is up. */
  async list(): Promise<PendingApproval[]> {
    const all = await Promise.all([...this.approvals.values()].map((a) => this.expireIfDue(a)));
    return all.sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  /**
   * Records a reviewer's decision. `record` runs once the decision is known valid and before it
   * takes effect: when it throws (the audit log cannot be written), nothing was decided.
   */
  async decide(
    id: string,
    decide: Decide,
    expiresMinutes: number,
    record: (decided: PendingApproval) => Promise<void> = async () => {},
  ): Promise<PendingApproval> {
    const approval = await this.get(id);
    if (approval === undefined) throw new ReviewError("NOT_FOUND", `no request ${id} awaits review`);
    if (approval.status === "expired")
      throw new ReviewError("EXPIRED", "this request expired before a decision");
    if (approval.status !== "pending" || this.deciding.has(id))
      throw new ReviewError("NOT_PENDING", `this request was already ${approval.status}`);
    if (decide.payloadSha256 !== approval.payload_sha256) {
      throw new ReviewError(
        "PAYLOAD_MISMATCH",
        "the decision names another payload than the one pending: reload and review it again",
      );
    }
    if (decide.approve && approval.two_person && decide.reviewer === requesterName(approval)) {
      throw new ReviewError(
        "SAME_PERSON",
        "the two-person rule is on: another reviewer than the requester must approve this request",
      );
    }
    const decision: ReviewDecision = {
      reviewer: decide.reviewer,
      reason: decide.reason,
      at: new Date(this.now()).toISOString(),
    };
    const decided: PendingApproval = decide.approve
      ? { ...approval, status: "approved", decision, expires_at: this.inMinutes(expiresMinutes) }
      : { ...approval, status: "denied", decision };
    // Two reviewers deciding at once: the second is refused while the first is recorded.
    this.deciding.add(id);
    try {
      await record(decided);
      await this.save(decided);
    } finally {
      this.deciding.delete(id);
    }
    return decided;
  }

  /** The agent withdrew it (cancel_action); true when it was still pending or approved. */
  async withdraw(id: string): Promise<PendingApproval | undefined> {
    const approval = await this.get(id);
    if (approval === undefined || (approval.status !== "pending" && approval.status !== "approved"))
      return undefined;
    const withdrawn: PendingApproval = { ...approval, status: "withdrawn" };
    await this.save(withdrawn);
    return withdrawn;
  }

  /**
   * Takes an approval for its one use: only one caller gets it (the waiting call or a get_action),
   * so an approved request is submitted once.
   */
  async claim(id: string): Promise<PendingApproval | undefined> {
    // Checked and taken without a pause in between: two callers cannot both see it approved.
    const approval = this.approvals.get(id);
    const usable = approval?.status === "approved" && Date.parse(approval.expires_at) > this.now();
    if (!usable) {
      await this.get(id);
      return undefined;
    }
    const claimed: PendingApproval = { ...approval, status: "submitted", submitted: [] };
    await this.save(claimed);
    return claimed;
  }

  async recordSubmitted(id: string, submitted: NonNullable<PendingApproval["submitted"]>): Promise<void> {
    const approval = this.approvals.get(id);
    if (approval !== undefined) await this.save({ ...approval, submitted });
  }

  /** Resolves with the request once it is no longer pending, or as it is when `waitMs` ran out. */
  async waitForDecision(
    id: string,
    { waitMs, signal }: { waitMs: number; signal?: AbortSignal | undefined },
  ): Promise<PendingApproval | undefined> {
    const current = await this.get(id);
    if (current?.status !== "pending" || waitMs <= 0) return current;
    const expiresIn = Date.parse(current.expires_at) - this.now();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener("abort", done);
        resolve();
      };
      // Expiry wakes the waiter too (at most the call's wait, never past the call).
      const timer = setTimeout(done, Math.max(0, Math.min(waitMs, expiresIn + 1)));
      const off = this.onChange((a) => {
        if (a.id === id && a.status !== "pending") done();
      });
      signal?.addEventListener("abort", done, { once: true });
    });
    return this.get(id);
  }

  /** Calls `listener` with every changed request; returns the unsubscribe function. */
  onChange(listener: ApprovalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the writes still under way. */
  async flush(): Promise<void> {
    await this.writes;
  }

  private async expireIfDue(approval: PendingApproval): Promise<PendingApproval> {
    const live = approval.status === "pending" || approval.status === "approved";
    if (!live || Date.parse(approval.expires_at) > this.now()) return approval;
    const expired: PendingApproval = { ...approval, status: "expired" };
    await this.save(expired);
    return expired;
  }

  private async save(approval: PendingApproval): Promise<void> {
    this.approvals.set(approval.id, approval);
    const write = this.writes.then(() => this.persist());
    this.writes = write.catch(() => undefined);
    await write;
    for (const listener of this.listeners) listener(approval);
  }

  private async persist(): Promise<void> {
    if (this.file === undefined) return;
    const text = JSON.stringify({ version: 1, approvals: [...this.approvals.values()] }, null, 2);
    await mkdir(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, this.file);
  }
}

/** Who asked, as a reviewer is named: the HTTP principal, or the MCP client's name over stdio. */
export function requesterName(approval: PendingApproval): string {
  return approval.payload.requester.principal ?? approval.payload.requester.client_name;
}
