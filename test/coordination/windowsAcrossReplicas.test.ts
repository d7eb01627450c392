import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BudgetWindow } from "../../src/coordination/index.js";
import { startRedisServer, type RedisServer } from "./redisServer.js";
import { killWorker, startWorker, type WorkerProcess } from "./workerProcess.js";

// At a time scale of 60 the API's 10 submits a minute are 10 a second. The reads budget has a short
// and a long window (6 per 0.5 s, 10 per 2 s) so a lost log is caught if only the short one recovers.
const TIME_SCALE = 60;
const BUDGETS: Record<string, BudgetWindow[]> = {
  submit: [{ limit: 10, windowMs: 60_000 }],
  reads: [
    { limit: 6, windowMs: 30_000 },
    { limit: 10, windowMs: 120_000 },
  ],
};
const scaled = (rule: BudgetWindow) => ({ limit: rule.limit, windowMs: rule.windowMs / TIME_SCALE });

let server: RedisServer;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await server.close();
});

/** Redis's clock now, in ms: the clock every grant is dated by. */
async function serverNow(): Promise<number> {
  const [seconds, micros] = await server.admin.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Three replicas in their own processes, three callers each, asking for `budget` as fast as they are let. */
async function hammer(budget: string, runMs: number, midRun?: () => Promise<void>) {
  const started = await Promise.all(
    [0, 1, 2].map((i) =>
      startWorker({
        role: "hammer",
        name: `replica-${i}`,
        url: server.url,
        callers: 3,
        budget,
        budgets: BUDGETS,
        timeScale: TIME_SCALE,
        maxCallMs: 1_000,
      }),
    ),
  );
  workers.push(...started);
  await sleep(runMs / 2);
  const midRunAt = await serverNow();
  await midRun?.();
  await sleep(runMs / 2);
  for (const w of started) w.send("stop");
  await Promise.all(started.map((w) => w.next((e) => e.event === "done")));
  const grants = started
    .flatMap((w) => w.events.flatMap((e) => (e.event === "grant" ? [e.at] : [])))
    .sort((a, b) => a - b);
  const unavailable = started.flatMap((w) => w.events.filter((e) => e.event === "unavailable")).length;
  return { grants, unavailable, midRunAt };
}

/** The most grants dated within any `windowMs` (half-open, so windows of every alignment are covered). */
function mostInAnyWindow(grants: number[], windowMs: number): number {
  let most = 0;
  for (let end = 0, start = 0; end < grants.length; end++) {
    while (grants[start]! <= grants[end]! - windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

function expectWithinBudget(grants: number[], budget: string): void {
  for (const rule of BUDGETS[budget]!.map(scaled)) {
    expect(
      mostInAnyWindow(grants, rule.windowMs),
      `${rule.limit} per ${rule.windowMs} ms`,
    ).toBeLessThanOrEqual(rule.limit);
  }
}

describe("shared windows across replica processes", () => {
  it("three replicas never get more than the limit in any window by Redis's clock, and use it", async () => {
    const { grants } = await hammer("submit", 3_500);
    expectWithinBudget(grants, "submit");
    expect(mostInAnyWindow(grants, 1_000)).toBe(10);
    expect(grants.length).toBeGreaterThanOrEqual(20);
  });

  it("a FLUSHALL mid-run does not reopen either window early: the replicas put their places back", async () => {
    const { grants, midRunAt } = await hammer("reads", 5_000, async () => {
      await server.admin.flushall();
    });
    expectWithinBudget(grants, "reads");
    expect(grants.filter((at) => at > midRunAt).length).toBeGreaterThan(0);
  });

  it("a Redis restart mid-run: replicas fail fast while it is down, then resume within the limits", async () => {
    const { grants, unavailable, midRunAt } = await hammer("reads", 5_000, async () => {
      await server.stop();
      await sleep(300);
      await server.start();
    });
    expect(unavailable).toBeGreaterThan(0);
    expectWithinBudget(grants, "reads");
    expect(grants.filter((at) => at > midRunAt).length).toBeGreaterThan(0);
  });
});
