/**
 * One replica in a child process of its own, driven by the coordination tests: it takes one role
 * (given as JSON in argv[2]), reports what happens as JSON lines on stdout, and takes commands as
 * lines on stdin ("act", "stop"). Killing or freezing it is killing or freezing a replica.
 */
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoordinationRedis,
  CoordinationUnavailableError,
  RedisLeader,
  RedisLocks,
  RedisSemaphore,
  RedisWindows,
} from "../../src/coordination/index.js";
import { ACT, ACTS_KEY, type WorkerConfig, type WorkerEvent, type WorkerRole } from "./workerProtocol.js";

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;
const redis = new CoordinationRedis({ url: config.url, commandTimeoutMs: 500, maxReconnectDelayMs: 100 });
let stopping = false;
let holds: () => boolean = () => false;

function emit(event: WorkerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function act(): Promise<void> {
  // The check and the act run in one tick: whatever the holder believes is what it acts on.
  if (!holds()) {
    emit({ event: "refused-to-act" });
    return;
  }
  await redis.run(ACT, [ACTS_KEY], [config.name]);
  emit({ event: "acted" });
}

async function hammer(role: Extract<WorkerRole, { role: "hammer" }>): Promise<void> {
  const windows = new RedisWindows(redis, {
    budgets: role.budgets,
    timeScale: role.timeScale,
    maxCallMs: role.maxCallMs,
  });
  let calls = 0;
  const caller = async () => {
    while (!stopping) {
      const callId = `${process.pid}-${calls++}`;
      try {
        const decision = await windows.tryAcquire(role.budget, callId);
        if (decision.granted) {
          emit({ event: "grant", at: decision.at });
          await sleep(Math.random() * 10);
          await windows.settle(role.budget, callId);
        } else {
          // Asking again often (not only when told) keeps the pressure on, and meets a Redis outage.
          await sleep(Math.min(decision.retryInMs, 50) + Math.random() * 5);
        }
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        emit({ event: "unavailable" });
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: role.callers }, caller));
  windows.close();
}

async function main(): Promise<void> {
  await redis.ready(5_000);
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    if (line === "act") void act();
    if (line === "stop") stopping = true;
  });
  emit({ event: "ready" });
  switch (config.role) {
    case "hammer":
      await hammer(config);
      emit({ event: "done" });
      await redis.close();
      process.exit(0);
      break;
    case "lock": {
      const locks = new RedisLocks(redis, { leaseMs: config.leaseMs });
      const outcome = await locks.acquire(config.key, { deadline: Infinity });
      if (!outcome.granted) throw new Error("the lock wait ended without the lock");
      const { lease } = outcome;
      holds = () => lease.isHeld();
      lease.onLost((error) => emit({ event: "lost", reason: error.reason }));
      emit({ event: "acquired" });
      break;
    }
    case "semaphore": {
      const semaphore = new RedisSemaphore(redis, {
        name: config.semaphore,
        capacity: config.capacity,
        leaseMs: config.leaseMs,
      });
      const outcome = await semaphore.acquire({ deadline: Infinity });
      if (!outcome.granted) throw new Error("the semaphore wait ended without a slot");
      holds = () => outcome.lease.isHeld();
      emit({ event: "acquired" });
      break;
    }
    case "leader": {
      const leader = new RedisLeader(redis, { key: config.key, leaseMs: config.leaseMs });
      holds = () => leader.isLeader();
      leader.onChange((leading) => emit({ event: "leading", leading }));
      leader.start();
      break;
    }
  }
  // Lease timers are unref'd, as in the server: this keeps the replica alive until it is killed.
  setInterval(() => undefined, 1_000);
}

void main();
