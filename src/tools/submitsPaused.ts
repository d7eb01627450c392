import type { ToolDeps } from "./toolDeps.js";

/**
 * Why this server submits nothing now, for a queued request's entry: the shared coordination store
 * (Redis) cannot be reached. The submit budget knows it once it has asked; a request still waiting
 * for its device or a session has not asked yet, so then the store itself is asked (one PING, which
 * fails at once while the connection is down). False while it answers, and without a shared store.
 */
export async function submitsPaused(deps: Pick<ToolDeps, "client" | "coordination">): Promise<boolean> {
  if (deps.client.limiters.snapshot().submit.shared?.unavailable) return true;
  if (deps.coordination === undefined) return false;
  return !(await deps.coordination.health()).available;
}
