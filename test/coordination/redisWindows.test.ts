import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CoordinationRedis,
  RedisWindows,
  type RedisWindowsOptions,
  type WindowDecision,
} from "../../src/coordination/index.js";
import { startRedisServer, type RedisServer } from "./redisServer.js";

// 60 s windows at a time scale of 60 are 1 s windows; the 500 ms margin is 9 ms (rounded up).
const TIME_SCALE = 60;
const HOLD_MS = Math.ceil(1000 + 500 / TIME_SCALE);

let server: RedisServer;
const connections: CoordinationRedis[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await server.close();
});

async function replica(options: RedisWindowsOptions): Promise<RedisWindows> {
  const redis = new CoordinationRedis({ url: server.url });
  connections.push(redis);
  await redis.ready(5_000);
  return new RedisWindows(redis, { timeScale: TIME_SCALE, maxCallMs: 2_000, ...options });
}

/** Asks until granted, sleeping as told; returns the grant and every refusal met on the way. */
async function acquireWhenAllowed(windows: RedisWindows, budget: string, callId: string) {
  const refusals: WindowDecision[] = [];
  for (;;) {
    const decision = await windows.tryAcquire(budget, callId);
    if (decision.granted) return { grant: decision, refusals };
    refusals.push(decision);
    await sleep(decision.retryInMs);
  }
}

describe("RedisWindows", () => {
  it("waits out one short window on a Redis without state, then grants up to the limit and says when the oldest place leaves", async () => {
    const windows = await replica({ prefix: "t1", budgets: { submit: [{ limit: 3, windowMs: 60_000 }] } });
    const first = await acquireWhenAllowed(windows, "submit", "c0");
    expect(first.refusals.map((r) => !r.granted && r.reason)).toContain("recovering");
    await windows.settle("submit", "c0");
    const grants = [first.grant];
    for (const id of ["c1", "c2"]) {
      const decision = await windows.tryAcquire("submit", id);
      expect(decision.granted).toBe(true);
      grants.push(decision as Extract<WindowDecision, { granted: true }>);
      await windows.settle("submit", id);
    }
    const refused = await windows.tryAcquire("submit", "c3");
    expect(refused).toMatchObject({ granted: false, reason: "window" });
    if (refused.granted) return;
    // c0 settled between its grant and c1's: its place leaves a hold after that, on Redis's clock.
    expect(refused.retryInMs).toBeGreaterThanOrEqual(grants[0]!.at + HOLD_MS - refused.at);
    expect(refused.retryInMs).toBeLessThanOrEqual(grants[1]!.at + HOLD_MS - refused.at);
    await sleep(refused.retryInMs);
    expect((await windows.tryAcquire("submit", "c3")).granted).toBe(true);
  });

  it("counts a call still in flight for at least a hold from now, and every window of a budget", async () => {
    const windows = await replica({
      prefix: "t2",
      budgets: {
        reads: [
          { limit: 4, windowMs: 60_000 },
          { limit: 6, windowMs: 180_000 },
        ],
      },
    });
    await acquireWhenAllowed(windows, "reads", "r0");
    for (const id of ["r1", "r2", "r3"]) expect((await windows.tryAcquire("reads", id)).granted).toBe(true);
    const inFlight = await windows.tryAcquire("reads", "r4");
    expect(inFlight).toMatchObject({ granted: false, reason: "window", retryInMs: HOLD_MS });
    for (const id of ["r0", "r1", "r2", "r3"]) await windows.settle("reads", id);
    const usage = await windows.usage("reads");
    expect(usage.windows.map((w) => w.occupied)).toEqual([4, 4]);

    // The minute window empties; the 3-minute one still holds 4 of 6, so 2 more go, then it refuses.
    // (On a loaded machine the four settles are spread out, and so is the minute window's emptying.)
    for (const id of ["r4", "r5"]) {
      const { refusals } = await acquireWhenAllowed(windows, "reads", id);
      for (const refusal of refusals) expect(refusal).toMatchObject({ reason: "window" });
    }
    const longWindow = await windows.tryAcquire("reads", "r6");
    expect(longWindow).toMatchObject({ granted: false, reason: "window" });
    if (!longWindow.granted) expect(longWindow.retryInMs).toBeGreaterThan(HOLD_MS);
  });

  it("a 429 closes the gate for every replica; once it opens exactly one caller of all gets the probe", async () => {
    const budgets = { submit: [{ limit: 100, windowMs: 60_000 }] };
    const replicas = [
      await replica({ prefix: "t3", budgets }),
      await replica({ prefix: "t3", budgets }),
      await replica({ prefix: "t3", budgets }),
    ];
    const [a, b, c] = replicas as [RedisWindows, RedisWindows, RedisWindows];
    await acquireWhenAllowed(a, "submit", "warm-up");
    await a.settle("submit", "warm-up");

    let call = 0;
    const everyoneAsks = () =>
      Promise.all(
        replicas.flatMap((r, i) =>
          [0, 1, 2].map(async () => {
            const id = `r${i}-${call++}`;
            return { replica: r, id, decision: await r.tryAcquire("submit", id) };
          }),
        ),
      );
    const waitForGate = async () => {
      const closed = await everyoneAsks();
      for (const { decision } of closed) expect(decision).toMatchObject({ granted: false, reason: "gate" });
      await sleep(Math.max(...closed.map(({ decision }) => (decision.granted ? 0 : decision.retryInMs))));
    };

    expect(await b.record429("submit", 1_000)).toBe(true);
    await waitForGate();
    const firstRound = await everyoneAsks();
    const probes = firstRound.filter(({ decision }) => decision.granted);
    expect(probes).toHaveLength(1);
    expect(probes[0]!.decision).toMatchObject({ granted: true, probe: true });
    for (const { decision } of firstRound.filter(({ decision }) => !decision.granted)) {
      expect(decision).toMatchObject({ granted: false, reason: "probe" });
    }

    // The probe meets another 429: the gate closes again, and the next opening has one probe again.
    const probe = probes[0]!;
    await c.record429("submit", 600);
    await probe.replica.settle("submit", probe.id);
    await waitForGate();
    const secondRound = await everyoneAsks();
    const secondProbes = secondRound.filter(({ decision }) => decision.granted);
    expect(secondProbes).toHaveLength(1);

    // This probe gets an answer that is not a 429: the gate is open to every caller.
    await secondProbes[0]!.replica.settle("submit", secondProbes[0]!.id);
    const open = await everyoneAsks();
    expect(open.map(({ decision }) => decision)).toEqual(
      open.map(() => expect.objectContaining({ granted: true, probe: false })),
    );
  });

  it("runs its scripts again after Redis forgot them (SCRIPT FLUSH)", async () => {
    const windows = await replica({ prefix: "t4", budgets: { submit: [{ limit: 5, windowMs: 60_000 }] } });
    await acquireWhenAllowed(windows, "submit", "before");
    await server.admin.script("FLUSH");
    expect((await windows.tryAcquire("submit", "after")).granted).toBe(true);
  });
});
