import { describe, expect, test } from "vitest";
import { SlidingWindow } from "../../src/simulator/slidingWindow.js";

const MINUTE = 60_000;

/** Admits like the limiter does: check, then record only what was admitted. */
function tryAdmit(window: SlidingWindow, now: number): boolean {
  if (window.waitMs(now) > 0) return false;
  window.record(now);
  return true;
}

describe("SlidingWindow", () => {
  test("a burst of 10 is admitted at once, the 11th waits until the oldest leaves the window", () => {
    const w = new SlidingWindow(10, MINUTE);
    const t0 = 1_000_000;
    for (let i = 0; i < 10; i++) expect(tryAdmit(w, t0 + i)).toBe(true);
    expect(w.waitMs(t0 + 10)).toBe(MINUTE - 10);
    expect(tryAdmit(w, t0 + 10)).toBe(false);
    expect(tryAdmit(w, t0 + MINUTE - 1)).toBe(false);
    expect(tryAdmit(w, t0 + MINUTE)).toBe(true);
    // The second call of the burst leaves one millisecond later, and not before.
    expect(tryAdmit(w, t0 + MINUTE)).toBe(false);
    expect(tryAdmit(w, t0 + MINUTE + 1)).toBe(true);
  });

  test("never admits 20 around a minute boundary, unlike a fixed-minute reservoir", () => {
    const w = new SlidingWindow(10, MINUTE);
    const boundary = 60 * MINUTE;
    let admitted = 0;
    // Ten calls in the last second before the boundary, ten tries in the first second after it.
    for (let i = 0; i < 10; i++) if (tryAdmit(w, boundary - 1000 + i * 100)) admitted++;
    for (let i = 0; i < 10; i++) if (tryAdmit(w, boundary + i * 100)) admitted++;
    expect(admitted).toBe(10);
  });

  test("in any window of its length, at most `limit` calls are admitted under steady pressure", () => {
    const w = new SlidingWindow(10, MINUTE);
    const admittedAt: number[] = [];
    for (let now = 0; now < 5 * MINUTE; now += 250) if (tryAdmit(w, now)) admittedAt.push(now);
    for (const start of admittedAt) {
      expect(admittedAt.filter((t) => t >= start && t < start + MINUTE).length).toBeLessThanOrEqual(10);
    }
    expect(admittedAt.length).toBe(50);
  });

  test("rejected calls leave no trace in the log", () => {
    const w = new SlidingWindow(2, 1000);
    expect(tryAdmit(w, 0)).toBe(true);
    expect(tryAdmit(w, 10)).toBe(true);
    for (let t = 20; t < 1000; t += 10) expect(tryAdmit(w, t)).toBe(false);
    expect(w.count(999)).toBe(2);
    expect(tryAdmit(w, 1000)).toBe(true);
    expect(w.count(1000)).toBe(2);
  });

  test("count forgets admissions older than the window; clear forgets all", () => {
    const w = new SlidingWindow(Infinity, 1000);
    for (const t of [0, 100, 900]) w.record(t);
    expect(w.count(950)).toBe(3);
    expect(w.count(1050)).toBe(2);
    expect(w.waitMs(1050)).toBe(0);
    w.clear();
    expect(w.count(1050)).toBe(0);
  });

  test("refuses a window without room or length", () => {
    expect(() => new SlidingWindow(0, 1000)).toThrow(RangeError);
    expect(() => new SlidingWindow(1, 0)).toThrow(RangeError);
  });
});
