import { describe, expect, it, vi } from "vitest";
import { systemLimiterClock } from "../../../src/defender/limits/limiterClock.js";
import {
  AdmissionCancelledError,
  RateLimiter,
  type RunOptions,
  type WindowRule,
} from "../../../src/defender/limits/rateLimiter.js";
import { quietLogger } from "../clientFixture.js";
import { ManualLimiterClock } from "./manualLimiterClock.js";
import { maxInAnyWindow, seededRandom } from "./windowChecks.js";

const FAST = { interval: 1, timeout: 5_000 };

/** A limiter on a manual clock, and calls that record when (and in which order) they started. */
function harness(windows: WindowRule[], marginMs = 0) {
  const clock = new ManualLimiterClock();
  const limiter = new RateLimiter({
    name: "test",
    windows,
    marginMs,
    fallbackPauseMs: 5_000,
    clock,
    logger: quietLogger,
  });
  const starts: number[] = [];
  const order: string[] = [];
  const call = (label = "", options: RunOptions = {}, body: () => unknown = () => undefined) =>
    limiter.run(async () => {
      starts.push(clock.now());
      order.push(label);
      await body();
    }, options);
  /** Resolves when the waiting calls sleep until exactly these instants (Infinity: until an answer). */
  const sleepingUntil = (...instants: number[]) =>
    vi.waitFor(() => expect(clock.wakeTimes()).toEqual(instants), FAST);
  return { clock, limiter, starts, order, call, sleepingUntil };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => undefined as void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("RateLimiter", () => {
  it("sends a burst of 10 at once and the 11th when the oldest left the window and margin", async () => {
    const { clock, limiter, starts, call, sleepingUntil } = harness([{ limit: 10, windowMs: 60_000 }], 500);
    const calls = Array.from({ length: 11 }, () => call());
    // No waiting at all for the first ten: they start in the same tick they were asked for.
    expect(starts).toEqual(Array(10).fill(0));
    await sleepingUntil(60_500);
    expect(limiter.snapshot()).toMatchObject({ queued: 1, admitted: 10 });

    await clock.advanceTo(60_499);
    expect(starts).toHaveLength(10);
    await clock.advanceTo(60_500);
    await Promise.all(calls);
    expect(starts).toEqual([...Array(10).fill(0), 60_500]);
    expect(limiter.snapshot()).toMatchObject({
      queued: 0,
      inFlight: 0,
      admitted: 11,
      // The first ten left the window at 60,500; the eleventh holds its place.
      windows: [{ limit: 10, windowMs: 60_000, occupied: 1, maxStartedInAnyWindow: 10 }],
    });
  });

  it("holds a call while the window is full of calls still in flight, until one answers", async () => {
    const { clock, starts, call, sleepingUntil } = harness([{ limit: 1, windowMs: 1_000 }]);
    const answer = deferred();
    const first = call("first", {}, () => answer.promise);
    const second = call("second");
    await sleepingUntil(Infinity);
    await clock.advanceTo(50_000);
    expect(starts).toEqual([0]);
    answer.resolve();
    await first;
    // Dated from the answer, not from the send.
    await sleepingUntil(51_000);
    await clock.advanceTo(51_000);
    await second;
    expect(starts).toEqual([0, 51_000]);
  });

  it("takes an aborted call out of the queue at once; it uses no place", async () => {
    const { clock, limiter, starts, order, call, sleepingUntil } = harness([{ limit: 1, windowMs: 1_000 }]);
    await call("first");
    const aborting = new AbortController();
    const second = call("second", { signal: aborting.signal });
    const third = call("third");
    await sleepingUntil(1_000);
    expect(limiter.snapshot().queued).toBe(2);

    aborting.abort();
    const error = await second.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdmissionCancelledError);
    expect(error).toMatchObject({ code: "ADMISSION_ABORTED", limiter: "test" });
    expect(limiter.snapshot().queued).toBe(1);

    await clock.advanceTo(1_000);
    await third;
    expect(order).toEqual(["first", "third"]);
    expect(starts).toEqual([0, 1_000]);
    expect(limiter.snapshot()).toMatchObject({ admitted: 2, queued: 0 });

    const already = AbortSignal.abort();
    await expect(call("never", { signal: already })).rejects.toMatchObject({ code: "ADMISSION_ABORTED" });
    expect(order).toEqual(["first", "third"]);
  });

  it("puts a retry ahead of the calls queued behind the head", async () => {
    const { clock, order, call, sleepingUntil } = harness([{ limit: 1, windowMs: 1_000 }]);
    await call("first");
    const a = call("a");
    await sleepingUntil(1_000);
    const b = call("b");
    const retry = call("retry", { priority: "retry" });
    // Bottleneck takes a few timer ticks to register a job; both must be queued before "a" goes.
    await new Promise((r) => setTimeout(r, 50));
    for (const at of [1_000, 2_000, 3_000]) {
      await sleepingUntil(at);
      await clock.advanceTo(at);
    }
    await Promise.all([a, b, retry]);
    expect(order).toEqual(["first", "a", "retry", "b"]);
  });

  it("holds every call while the gate is closed, then sends one probe; a 429 on the probe closes it again", async () => {
    const { clock, limiter, starts, call, sleepingUntil } = harness([{ limit: 100, windowMs: 1_000 }]);
    const probeAnswer = deferred();
    limiter.pause(1_000);
    expect(limiter.snapshot()).toMatchObject({ gateClosedUntil: 1_000, throttled: 1 });

    const calls = [
      call("probe 1", {}, async () => {
        await probeAnswer.promise;
        limiter.pause(300);
      }),
      ...Array.from({ length: 4 }, (_, i) => call(`queued ${i}`)),
    ];
    expect(starts).toEqual([]);
    await sleepingUntil(1_000);
    await clock.advanceTo(999);
    expect(starts).toEqual([]);

    await clock.advanceTo(1_000);
    await vi.waitFor(() => expect(starts).toEqual([1_000]), FAST);
    // The others wait for the probe's answer, however long it takes.
    await sleepingUntil(Infinity);
    expect(limiter.snapshot()).toMatchObject({ probing: true, queued: 4 });
    await clock.advanceTo(1_200);
    expect(starts).toEqual([1_000]);

    probeAnswer.resolve();
    await sleepingUntil(1_500);
    expect(limiter.snapshot()).toMatchObject({ gateClosedUntil: 1_500, probing: false, throttled: 2 });
    expect(starts).toEqual([1_000]);

    await clock.advanceTo(1_500);
    await Promise.all(calls);
    // The second probe got an answer that was not a 429, so the gate opened for everyone.
    expect(starts).toEqual([1_000, 1_500, 1_500, 1_500, 1_500]);
    expect(limiter.snapshot()).toMatchObject({ gateClosedUntil: null, probing: false, admitted: 5 });
  });

  it("pauses for the fallback when a 429 has no Retry-After", () => {
    const { limiter } = harness([{ limit: 1, windowMs: 1_000 }]);
    limiter.pause(undefined);
    expect(limiter.snapshot().gateClosedUntil).toBe(5_000);
  });

  it("needs every window to have room", async () => {
    const { clock, starts, call, sleepingUntil } = harness([
      { limit: 3, windowMs: 100 },
      { limit: 5, windowMs: 1_000 },
    ]);
    const calls = Array.from({ length: 8 }, () => call());
    expect(starts).toEqual([0, 0, 0]);
    await sleepingUntil(100);
    await clock.advanceTo(100);
    // The short window has room for three, the long one for two.
    await sleepingUntil(1_000);
    expect(starts).toEqual([0, 0, 0, 100, 100]);
    await clock.advanceTo(1_000);
    await Promise.all(calls);
    expect(starts).toEqual([0, 0, 0, 100, 100, 1_000, 1_000, 1_000]);
  });

  it("refuses waiting and later calls once stopped, and lets calls in flight finish", async () => {
    const { limiter, call, sleepingUntil } = harness([{ limit: 1, windowMs: 1_000 }]);
    const answer = deferred();
    const inFlight = call("in flight", {}, () => answer.promise);
    const waiting = call("waiting");
    await sleepingUntil(Infinity);
    const stopped = limiter.stop();
    await expect(waiting).rejects.toMatchObject({ code: "LIMITER_STOPPED" });
    await expect(call("later")).rejects.toMatchObject({ code: "LIMITER_STOPPED" });
    answer.resolve();
    await inFlight;
    await stopped;
  });

  it("never starts more than 10 in any window of a random stream, nor lets a server count more", async () => {
    // The real clock and Bottleneck, with a window of 40 ms so the run takes well under a second.
    const windowMs = 40;
    const limiter = new RateLimiter({
      name: "stream",
      windows: [{ limit: 10, windowMs }],
      marginMs: 0.5,
      fallbackPauseMs: windowMs,
      logger: quietLogger,
    });
    const random = seededRandom(7);
    const clock = systemLimiterClock;
    const spans: Array<{ start: number; end: number }> = [];
    const calls = Array.from({ length: 150 }, async () => {
      await new Promise((r) => setTimeout(r, random() * 400));
      const duration = random() * 8;
      await limiter.run(async () => {
        const start = clock.now();
        await new Promise((r) => setTimeout(r, duration));
        spans.push({ start, end: clock.now() });
      });
    });
    await Promise.all(calls);
    const starts = spans.map((s) => s.start);
    const seenByServer = spans.map((s) => s.start + random() * (s.end - s.start));
    expect(spans).toHaveLength(150);
    expect(maxInAnyWindow(starts, windowMs)).toBeLessThanOrEqual(10);
    expect(maxInAnyWindow(seenByServer, windowMs)).toBeLessThanOrEqual(10);
    expect(limiter.snapshot().windows[0]?.maxStartedInAnyWindow).toBe(maxInAnyWindow(starts, windowMs));
    await limiter.stop();
  });
});
