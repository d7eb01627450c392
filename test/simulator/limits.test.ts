import { describe, expect, test } from "vitest";
import { ApiLimits } from "../../src/simulator/limits.js";
import { ManualClock } from "../../src/simulator/simClock.js";

function limits(options: { timeScale?: number; sessionCap?: number; active?: () => number } = {}) {
  const clock = new ManualClock();
  const apiLimits = new ApiLimits({
    timeScale: options.timeScale ?? 1,
    clock,
    sessionCap: options.sessionCap ?? 25,
    activeSessions: options.active ?? (() => 0),
  });
  return { clock, apiLimits };
}

describe("ApiLimits", () => {
  test("runliveresponse: 10 per 60 s per app; the 11th waits exactly until the first leaves", () => {
    const { clock, apiLimits } = limits();
    for (let i = 0; i < 10; i++) {
      expect(apiLimits.admit("app-a", "runliveresponse").ok).toBe(true);
      clock.advance(1000);
    }
    const eleventh = apiLimits.admit("app-a", "runliveresponse");
    expect(eleventh).toMatchObject({ ok: false, retryAfterMs: 50_000 });
    clock.advance(49_999);
    expect(apiLimits.admit("app-a", "runliveresponse").ok).toBe(false);
    clock.advance(1);
    expect(apiLimits.admit("app-a", "runliveresponse").ok).toBe(true);
  });

  test("windows are keyed by app and by endpoint", () => {
    const { apiLimits } = limits();
    for (let i = 0; i < 10; i++) apiLimits.admit("app-a", "runliveresponse");
    expect(apiLimits.admit("app-a", "runliveresponse").ok).toBe(false);
    expect(apiLimits.admit("app-b", "runliveresponse").ok).toBe(true);
    expect(apiLimits.admit("app-a", "getMachineAction").ok).toBe(true);
  });

  test("other endpoints: 100 per minute, and 1,500 per hour across minutes", () => {
    const { clock, apiLimits } = limits();
    for (let i = 0; i < 100; i++) expect(apiLimits.admit("app", "getMachineAction").ok).toBe(true);
    expect(apiLimits.admit("app", "getMachineAction")).toMatchObject({ ok: false, retryAfterMs: 60_000 });
    let admitted = 100;
    for (let minute = 1; minute < 60; minute++) {
      clock.advance(60_000);
      while (apiLimits.admit("app", "getMachineAction").ok) admitted++;
    }
    expect(admitted).toBe(1500);
    // The hour window now holds 1,500 calls; the first 100 leave it one hour after they were made.
    const blocked = apiLimits.admit("app", "getMachineAction");
    expect(blocked.ok).toBe(false);
    expect(blocked.ok ? 0 : blocked.retryAfterMs).toBe(60_000);
  });

  test("a rejected call does not enter the window", () => {
    const { clock, apiLimits } = limits();
    for (let i = 0; i < 10; i++) apiLimits.admit("app", "runliveresponse");
    for (let i = 0; i < 30; i++) {
      clock.advance(1000);
      expect(apiLimits.admit("app", "runliveresponse").ok).toBe(false);
    }
    clock.advance(30_000);
    for (let i = 0; i < 10; i++) expect(apiLimits.admit("app", "runliveresponse").ok).toBe(true);
  });

  test("durations are divided by the time scale", () => {
    const { clock, apiLimits } = limits({ timeScale: 600 });
    for (let i = 0; i < 10; i++) apiLimits.admit("app", "runliveresponse");
    expect(apiLimits.admit("app", "runliveresponse")).toMatchObject({ ok: false, retryAfterMs: 100 });
    clock.advance(100);
    expect(apiLimits.admit("app", "runliveresponse").ok).toBe(true);
  });

  test("the session cap refuses submits only, and such a refusal uses no window slot", () => {
    let active = 25;
    const { apiLimits } = limits({ sessionCap: 25, active: () => active });
    const refused = apiLimits.admit("app", "runliveresponse");
    expect(refused).toMatchObject({ ok: false, retryAfterMs: 60_000 });
    expect(refused.ok ? "" : refused.message).toMatch(/25 live response sessions/);
    expect(apiLimits.admit("app", "getMachineAction").ok).toBe(true);
    active = 24;
    for (let i = 0; i < 10; i++) expect(apiLimits.admit("app", "runliveresponse").ok).toBe(true);
  });

  test("reset empties every window", () => {
    const { apiLimits } = limits();
    for (let i = 0; i < 10; i++) apiLimits.admit("app", "runliveresponse");
    apiLimits.reset();
    expect(apiLimits.admit("app", "runliveresponse").ok).toBe(true);
  });
});
