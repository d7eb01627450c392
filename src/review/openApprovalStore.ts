import type { ApprovalStore } from "./approvalStore.js";
import { PendingApprovals } from "./pendingApprovals.js";

export interface ApprovalStoreOptions {
  /** The JSON file that keeps pending approvals across restarts; undefined keeps them in memory only. */
  file: string | undefined;
  timeScale: number;
}

/** The store the review console and the tools share: a JSON file (or memory) for one server. */
export function openApprovalStore(options: ApprovalStoreOptions): Promise<ApprovalStore> {
  return PendingApprovals.open({ file: options.file, timeScale: options.timeScale });
}
