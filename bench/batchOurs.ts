/**
 * The batch through this server's public domain API, as run_live_response and get_action use it:
 * one submit for every device (queued past the budget, not failed), follow until every action is
 * final, then every command's result.
 */
import { performance } from "node:perf_hooks";
import { isFinalActionStatus, type MachineAction } from "../src/defender/schemas.js";
import type { LiveResponseService, SubmittedRequest } from "../src/liveResponse/index.js";
import type { BatchRun } from "./batch.js";
import { BENCH_SCRIPT } from "./benchTarget.js";

/** Wall-clock bound on every wait: far beyond any batch the bench runs, so nothing here times out. */
const LONG_WAIT_MS = 10 * 60 * 1000;

/** The entry's action, once its queued submit (if it was queued) has gone out; undefined when it never will. */
async function actionOf(
  service: LiveResponseService,
  entry: SubmittedRequest,
): Promise<MachineAction | undefined> {
  if (entry.action) return entry.action;
  if (!entry.queued) return undefined;
  const still = await service.queuedRequest(entry.requestId, { waitMs: LONG_WAIT_MS });
  if (still !== undefined) return still.action;
  return (await service.getAction(entry.requestId)).action;
}

export async function runOurBatch(service: LiveResponseService, machineIds: string[]): Promise<BatchRun> {
  const startedMs = performance.now();
  const entries = await service.submit(
    { machineIds, commands: [{ type: "RunScript", scriptName: BENCH_SCRIPT }], comment: "bench batch" },
    { queue: true, waitMs: LONG_WAIT_MS },
  );
  const submitted = (await Promise.all(entries.map((e) => actionOf(service, e)))).filter(
    (a): a is MachineAction => a !== undefined,
  );
  const lastSubmitMs = performance.now();
  const latest = new Map(submitted.map((a) => [a.id, a]));
  // follow() ends at its wait or when all are final; a failed poll leaves an action to follow again.
  for (;;) {
    const open = [...latest.values()].filter((a) => !isFinalActionStatus(a.status));
    if (open.length === 0) break;
    for (const { action } of await service.follow(open, { waitMs: LONG_WAIT_MS })) {
      latest.set(action.id, action);
    }
  }
  const lastFinalMs = performance.now();
  const final = [...latest.values()];
  await Promise.all(final.map((a) => service.commandResults(a)));
  return {
    startedMs,
    lastSubmitMs,
    lastFinalMs,
    finalStatuses: final.map((a) => a.status),
    submitFailures: machineIds.length - submitted.length,
  };
}
