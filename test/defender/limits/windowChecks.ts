/** The most instants in any half-open window [t, t + windowMs): what a server's window could see. */
export function maxInAnyWindow(instants: readonly number[], windowMs: number): number {
  const sorted = [...instants].sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[first] ?? 0) <= (sorted[last] ?? 0) - windowMs) first++;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

/** Repeatable uniform numbers in [0, 1), so a failing random run can be replayed. */
export { seededUnitRandom as seededRandom } from "../../../src/simulator/mulberry32.js";
