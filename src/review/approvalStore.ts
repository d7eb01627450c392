import type { PendingApproval } from "./pendingApproval.js";

/** What a new request brings; the store gives it its id, times and status. */
export type NewApproval = Omit<
  PendingApproval,
  "id" | "status" | "created_at" | "expires_at" | "decision" | "submitted"
>;

export interface Decide {
  approve: boolean;
  reviewer: string;
  reason: string;
  /** The payload the reviewer saw: a decision binds to it and to nothing else. */
  payloadSha256: string;
}

export type ApprovalListener = (approval: PendingApproval) => void;

/**
 * Requests waiting for a reviewer and the decisions on them, wherever they are kept (a file for one
 * server, Redis for replicas): the tools, the review console and the audit trail see only this.
 */
export interface ApprovalStore {
  add(request: NewApproval, expiresMinutes: number): Promise<PendingApproval>;
  /** The request as it stands, expired when its time is up. */
  get(id: string): Promise<PendingApproval | undefined>;
  /** Every request, newest first, each expired when its time is up. */
  list(): Promise<PendingApproval[]>;
  /**
   * Records a reviewer's decision. `record` runs once the decision is known valid and before it
   * takes effect: when it throws (the audit log cannot be written), nothing was decided.
   */
  decide(
    id: string,
    decide: Decide,
    expiresMinutes: number,
    record?: (decided: PendingApproval) => Promise<void>,
  ): Promise<PendingApproval>;
  /** The agent withdrew it (cancel_action); the request when it was still pending or approved. */
  withdraw(id: string): Promise<PendingApproval | undefined>;
  /** Takes an approval for its one use: only one caller gets it, so an approved request is submitted once. */
  claim(id: string): Promise<PendingApproval | undefined>;
  recordSubmitted(id: string, submitted: NonNullable<PendingApproval["submitted"]>): Promise<void>;
  /** Resolves with the request once it is no longer pending, or as it is when `waitMs` ran out. */
  waitForDecision(
    id: string,
    options: { waitMs: number; signal?: AbortSignal | undefined },
  ): Promise<PendingApproval | undefined>;
  /** Calls `listener` with every changed request; returns the unsubscribe function. */
  onChange(listener: ApprovalListener): () => void;
  /** Waits for the writes still under way. */
  flush(): Promise<void>;
  /** Lets go of what the store holds open (a shared store's change subscription); absent when nothing is. */
  close?(): Promise<void>;
}
