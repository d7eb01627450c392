import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../src/simulator/index.js";
import { HOLDING_SCRIPT, onlineDevice, schedulingScenario } from "../scheduling/schedulingScenario.js";
import { startCluster, type Replica, type ReplicaCluster } from "./replicaCluster.js";

/**
 * One poller per tenant across three server processes: the leader reads every replica's actions in
 * flight, the others serve their callers from the states it shares. A minute is 3 s here
 * (MDE_TIME_SCALE 20): the poll interval is 250 ms, a lease lasts 1 s, a script holds its device 4 s.
 */
const TIME_SCALE = 20;
const POLL_INTERVAL_MS = 5_000 / TIME_SCALE;
const LEASE_SECONDS = 20;
const commands = [{ type: "RunScript", script_name: HOLDING_SCRIPT }];

let cluster: ReplicaCluster | undefined;
let sim: RunningSimulator;
let replicas: Replica[];

async function untilLeader(among: readonly Replica[]): Promise<Replica> {
  for (let i = 0; i < 400; i++) {
    const leaders = among.filter((r) => r.leadsPolling);
    if (leaders.length === 1) return leaders[0]!;
    await sleep(25);
  }
  throw new Error("no single poller leader");
}

/** Each replica submits to three devices of its own and its agent follows them to their end. */
async function batch(among: readonly Replica[], firstDevice: number, comment: string) {
  const runs = await Promise.all(
    among.map((r, i) =>
      r.run(
        [0, 1, 2].map((d) => onlineDevice(firstDevice + 3 * i + d)),
        commands,
        comment,
      ),
    ),
  );
  return runs.map((entries, i) =>
    Promise.all(entries.map((e) => among[i]!.followUntilFinal(e.request_id!, 30))),
  );
}

describe("one poller per tenant across replicas", () => {
  beforeAll(async () => {
    cluster = await startCluster({
      prefix: "replica-poller-",
      scenario: schedulingScenario({ online: 18, scriptSeconds: 80 }),
      names: ["a", "b", "c"],
      timeScale: TIME_SCALE,
      maxSessions: 25,
      leaseSeconds: LEASE_SECONDS,
    });
    ({ sim, replicas } = cluster);
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it("only the leader polls: nine actions followed on three replicas are listed by the leader alone", async () => {
    const leader = await untilLeader(replicas);
    const listed = () => Promise.all(replicas.map((r) => r.apiCalls("listMachineActions")));
    const before = await listed();
    const simBefore = sim.stats().calls.listMachineActions ?? 0;
    const followed = await batch(replicas, 0, "one poller");
    const ended = (await Promise.all(followed)).flat();
    expect(ended.map((e) => e.status)).toEqual(Array(9).fill("Succeeded"));
    const after = await listed();
    const byReplica = replicas.map((r, i) => ({ leader: r === leader, calls: after[i]! - before[i]! }));
    const leaderCalls = byReplica.find((r) => r.leader)!.calls;
    const followerCalls = byReplica.filter((r) => !r.leader).map((r) => r.calls);
    // The leader lists every replica's actions each round; a follower reads the shared states, and
    // lists on its own only when they are more than two poll intervals old (none here).
    expect(leaderCalls).toBeGreaterThan(3);
    expect(followerCalls.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2);
    // The tenant saw about one poller's list calls, not three.
    expect((sim.stats().calls.listMachineActions ?? 0) - simBefore).toBeLessThanOrEqual(leaderCalls + 2);
    expect(sim.stats().throttledTotal).toBe(0);
  }, 60_000);

  it("the leader killed (SIGKILL): another replica takes the lease and every follower's actions still reach their end", async () => {
    const leader = await untilLeader(replicas);
    const others = replicas.filter((r) => r !== leader);
    const followed = await batch(others, 9, "leader killed");
    await sleep(2 * POLL_INTERVAL_MS);
    await leader.kill();
    const ended = (await Promise.all(followed)).flat();
    expect(ended.map((e) => e.status)).toEqual(Array(6).fill("Succeeded"));
    const successor = await untilLeader(others);
    expect(others).toContain(successor);
    expect(sim.stats().throttledTotal).toBe(0);
  }, 60_000);
});
