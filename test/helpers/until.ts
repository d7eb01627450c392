import { setTimeout as sleep } from "node:timers/promises";

/** Resolves once `condition` holds, checking every 10 ms; fails after 5 s (a condition never met). */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(10);
  if (!condition()) throw new Error("condition not met in 5 s");
}
