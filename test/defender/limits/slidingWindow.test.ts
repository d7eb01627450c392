import { describe, expect, it } from "vitest";
import { SlidingWindowLog } from "../../../src/defender/limits/slidingWindow.js";
import { maxInAnyWindow, seededRandom } from "./windowChecks.js";

const MINUTE = 60_000;
const MARGIN = 500;

describe("SlidingWindowLog", () => {
  it("admits a burst of 10 at once, then the 11th only when the oldest settled a window and the margin ago", () => {
    const w = new SlidingWindowLog(10, MINUTE, MARGIN);
    for (let i = 0; i < 10; i++) {
      expect(w.waitMs(0)).toBe(0);
      w.start(0);
    }
    // All ten are still in flight: the server may count any of them at any moment until they answer.
    expect(w.waitMs(0)).toBe(Infinity);
    for (let i = 0; i < 10; i++) w.settle(100 + i * 10);
    expect(w.waitMs(200)).toBe(100 + MINUTE + MARGIN - 200);
    expect(w.waitMs(100 + MINUTE + MARGIN - 1)).toBe(1);
    expect(w.waitMs(100 + MINUTE + MARGIN)).toBe(0);
    w.start(100 + MINUTE + MARGIN);
    // The next place is the second oldest's, 10 ms later.
    expect(w.waitMs(100 + MINUTE + MARGIN)).toBe(10);
    expect(w.occupied(100 + MINUTE + MARGIN)).toBe(10);
    expect(w.maxStartedInAnyWindow).toBe(10);
  });

  it("never lets the server count more than 10 in any window of a long random stream, whatever the latency", () => {
    const random = seededRandom(42);
    const w = new SlidingWindowLog(10, MINUTE, MARGIN);
    const arrivals = Array.from({ length: 2_000 }, () => random() * 3_600_000 * 2).sort((a, b) => a - b);
    const starts: number[] = [];
    const seenByServer: number[] = [];
    const settles: number[] = [];
    let waiting = 0;
    let now = 0;
    for (;;) {
      while (waiting > 0 && w.waitMs(now) === 0) {
        w.start(now);
        waiting -= 1;
        // Up to 5 s in flight, ten times the margin: the server counts the call somewhere in between.
        const latency = random() * 5_000;
        starts.push(now);
        seenByServer.push(now + random() * latency);
        settles.push(now + latency);
        settles.sort((a, b) => a - b);
      }
      const wait = waiting > 0 ? w.waitMs(now) : Infinity;
      const next = Math.min(arrivals[0] ?? Infinity, settles[0] ?? Infinity, now + wait);
      if (next === Infinity) break;
      now = next;
      while ((arrivals[0] ?? Infinity) <= now) {
        arrivals.shift();
        waiting += 1;
      }
      while ((settles[0] ?? Infinity) <= now) w.settle(settles.shift() ?? now);
    }
    expect(starts).toHaveLength(2_000);
    expect(maxInAnyWindow(starts, MINUTE)).toBe(10);
    expect(maxInAnyWindow(seenByServer, MINUTE)).toBeLessThanOrEqual(10);
    expect(w.maxStartedInAnyWindow).toBe(maxInAnyWindow(starts, MINUTE));
  });

  it("rejects a limit below 1 and a window that is not positive", () => {
    expect(() => new SlidingWindowLog(0, MINUTE)).toThrow(RangeError);
    expect(() => new SlidingWindowLog(10, 0)).toThrow(RangeError);
    expect(() => new SlidingWindowLog(10, MINUTE, -1)).toThrow(RangeError);
    expect(() => new SlidingWindowLog(10, MINUTE).settle(0)).toThrow(RangeError);
  });
});
