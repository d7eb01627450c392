import { describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../../src/config/settings.js";
import type { DefenderEndpoint } from "../../../src/defender/errors.js";
import {
  ApiLimiters,
  DEFAULT_API_LIMITS,
  resolveApiLimits,
} from "../../../src/defender/limits/apiLimiters.js";
import { quietLogger } from "../clientFixture.js";
import { ManualLimiterClock } from "./manualLimiterClock.js";
import { maxInAnyWindow } from "./windowChecks.js";

const MINUTE = 60_000;
const HOUR = 3_600_000;

describe("API limit settings", () => {
  it("default to the documented budgets and a 500 ms margin", () => {
    expect(DEFAULT_API_LIMITS).toEqual({
      submitPerMinute: 10,
      readsPerMinute: 100,
      readsPerHour: 1500,
      safetyMarginMs: 500,
    });
    expect(resolveApiLimits({ readsPerHour: 1000 })).toEqual({ ...DEFAULT_API_LIMITS, readsPerHour: 1000 });
  });

  it("refuse a budget that is not a whole positive number, naming it", () => {
    expect(() => resolveApiLimits({ submitPerMinute: 0 })).toThrow(ConfigError);
    expect(() => resolveApiLimits({ readsPerMinute: 2.5 })).toThrow(/readsPerMinute/);
    expect(() => resolveApiLimits({ safetyMarginMs: -1 })).toThrow(/safetyMarginMs/);
  });
});

describe("ApiLimiters", () => {
  it("scales windows and margin by the time scale", () => {
    const limiters = new ApiLimiters({ timeScale: 600, logger: quietLogger });
    const { submit, reads } = limiters.snapshot();
    expect(submit.windows).toEqual([{ limit: 10, windowMs: 100, occupied: 0, maxStartedInAnyWindow: 0 }]);
    expect(reads.windows.map((w) => [w.limit, w.windowMs])).toEqual([
      [100, 100],
      [1500, 6_000],
    ]);
  });

  it("spends the submit budget on runLiveResponse and the read budget on every other API call", () => {
    const limiters = new ApiLimiters({ logger: quietLogger });
    expect(limiters.forEndpoint("runLiveResponse")).toBe(limiters.submit);
    const reads: DefenderEndpoint[] = [
      "getMachineAction",
      "listMachineActions",
      "cancelMachineAction",
      "getLiveResponseResultDownloadLink",
      "listMachines",
      "getMachine",
      "listLibraryFiles",
    ];
    for (const endpoint of reads) expect(limiters.forEndpoint(endpoint)).toBe(limiters.reads);
  });

  it("holds the reads past 1,500 in an hour even when every minute has room", async () => {
    const clock = new ManualLimiterClock();
    const limiters = new ApiLimiters({ clock, logger: quietLogger });
    const starts: number[] = [];
    // One call at a time, moving the clock whenever the limiter makes a call wait.
    for (let i = 0; i < 1_600; i++) {
      const call = limiters.reads.run(async () => {
        starts.push(clock.now());
      });
      if (starts.length <= i) {
        await vi.waitFor(() => expect(clock.wakeTimes()).toHaveLength(1), { interval: 1 });
        await clock.advanceTo(clock.wakeTimes()[0]!);
      }
      await call;
    }
    const margin = DEFAULT_API_LIMITS.safetyMarginMs;
    // 100 per minute (plus margin) for fifteen minutes, then nothing until the first call is an hour old.
    expect(starts[1_499]).toBe(14 * (MINUTE + margin));
    expect(starts[1_500]).toBe(HOUR + margin);
    expect(maxInAnyWindow(starts, MINUTE)).toBe(100);
    expect(maxInAnyWindow(starts, HOUR)).toBe(1_500);
    expect(limiters.snapshot().reads.windows.map((w) => w.maxStartedInAnyWindow)).toEqual([100, 1_500]);
  });
});
