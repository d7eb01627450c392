import type { ApprovalStore } from "./approvalStore.js";
import type { PendingApproval } from "./pendingApproval.js";

export interface DecisionWaitOptions {
  waitMs: number;
  signal?: AbortSignal | undefined;
  /** The clock expiry is judged by. */
  now: () => number;
  /**
   * Where a store registers the waiter when a change may have gone unheard (a shared store whose
   * subscription came back after an outage): calling it makes the waiter read the request again.
   */
  resyncs?: Set<() => void>;
}

/**
 * Waits, the same way in every store, until the request is no longer pending, or as it is when
 * `waitMs` ran out or the call was aborted. Its expiry wakes the waiter too, never past the wait.
 */
export async function waitForDecision(
  store: Pick<ApprovalStore, "get" | "onChange">,
  id: string,
  options: DecisionWaitOptions,
): Promise<PendingApproval | undefined> {
  const { signal } = options;
  const deadline = performance.now() + options.waitMs;
  let current = await store.get(id);
  while (current?.status === "pending" && !signal?.aborted) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) break;
    const expiresIn = Date.parse(current.expires_at) - options.now();
    await nextChange(store, id, Math.max(0, Math.min(remaining, expiresIn + 1)), options);
    current = await store.get(id);
  }
  return current;
}

/** Resolves when `id` is decided, on a resync, after `ms`, or on abort. */
function nextChange(
  store: Pick<ApprovalStore, "onChange">,
  id: string,
  ms: number,
  { signal, resyncs }: DecisionWaitOptions,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      off();
      resyncs?.delete(done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const off = store.onChange((a) => {
      if (a.id === id && a.status !== "pending") done();
    });
    resyncs?.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
