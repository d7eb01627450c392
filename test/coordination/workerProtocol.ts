/** What the tests and coordinationWorker.ts say to each other. */
import { LuaScript, SERVER_NOW, type BudgetWindow } from "../../src/coordination/index.js";

export type WorkerRole =
  | {
      role: "hammer";
      /** Concurrent callers in this replica. */
      callers: number;
      budget: string;
      budgets: Record<string, BudgetWindow[]>;
      timeScale: number;
      maxCallMs: number;
    }
  | { role: "lock"; key: string; leaseMs: number }
  | { role: "semaphore"; semaphore: string; capacity: number; leaseMs: number }
  | { role: "leader"; key: string; leaseMs: number };

export type WorkerConfig = WorkerRole & { url: string; name: string };

export type WorkerEvent =
  | { event: "ready" }
  | { event: "grant"; at: number }
  | { event: "unavailable" }
  | { event: "acquired" }
  | { event: "lost"; reason: string }
  | { event: "leading"; leading: boolean }
  | { event: "acted" }
  | { event: "refused-to-act" }
  | { event: "done" };

/** What "act" does: appends "<name>:<server ms>" to the list `acts`, so the test can order every act by Redis time. */
export const ACT = new LuaScript(
  "test-act",
  `${SERVER_NOW}return redis.call('RPUSH', KEYS[1], ARGV[1] .. ':' .. now)`,
);
export const ACTS_KEY = "test:acts";
