import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { PendingFileSchema, type PendingApproval } from "./pendingApproval.js";
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

  async add(request: NewApproval, expiresMinutes: number): Promise<PendingApproval> {
    const approval = newApproval(request, { now: this.now(), expiresMinutes, timeScale: this.timeScale });
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
    return all.sort(newestFirst);
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
    const decided = decidedApproval(id, await this.get(id), decide, {
      now: this.now(),
      expiresMinutes,
      timeScale: this.timeScale,
      deciding: this.deciding.has(id),
    });
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
    const withdrawn = withdrawnApproval(await this.get(id));
    if (withdrawn !== undefined) await this.save(withdrawn);
    return withdrawn;
  }

  /**
   * Takes an approval for its one use: only one caller gets it (the waiting call or a get_action),
   * so an approved request is submitted once.
   */
  async claim(id: string): Promise<PendingApproval | undefined> {
    // Checked and taken without a pause in between: two callers cannot both see it approved.
    const claimed = claimedApproval(this.approvals.get(id), this.now());
    if (claimed === undefined) {
      await this.get(id);
      return undefined;
    }
    await this.save(claimed);
    return claimed;
  }

  async recordSubmitted(id: string, submitted: NonNullable<PendingApproval["submitted"]>): Promise<void> {
    const approval = this.approvals.get(id);
    if (approval !== undefined) await this.save({ ...approval, submitted });
  }

  /** Resolves with the request once it is no longer pending, or as it is when `waitMs` ran out. */
  waitForDecision(
    id: string,
    options: { waitMs: number; signal?: AbortSignal | undefined },
  ): Promise<PendingApproval | undefined> {
    return waitForDecision(this, id, { ...options, now: this.now });
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
    const expired = expiredIfDue(approval, this.now());
    if (expired === undefined) return approval;
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
