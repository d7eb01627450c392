import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../scripts/ensureBuilt.js";
import { CoordinationUnavailableError } from "../../src/coordination/errors.js";
import { notSubmittedEntry, type ActionEntry } from "../../src/tools/actionEntry.js";
import { describeError } from "../../src/tools/toolErrors.js";
import { startRedisServer, type RedisServer } from "../coordination/redisServer.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { ServeProcess } from "../helpers/serveProcess.js";
import { startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";

/** One submit a window, and a window of 1 s: long enough to stop Redis while a request waits for it. */
const TIME_SCALE = 60;

/**
 * A request waiting for the tenant's submit budget while the replicas' Redis goes away: the tool
 * result says that submits are paused because the shared coordination store is unreachable (not just
 * slow), and once Redis is back the request is submitted, once.
 */
describe("tool results while the shared coordination store is unreachable", () => {
  let t: TestSimulator;
  let redis: RedisServer;
  let server: ServeProcess;
  let agent: Client;

  beforeAll(async () => {
    await ensureBuilt();
    [t, redis] = await Promise.all([startTestSimulator({ timeScale: TIME_SCALE }), startRedisServer()]);
    server = await ServeProcess.start(t.sim, {
      REDIS_URL: redis.url,
      MDE_TIME_SCALE: String(TIME_SCALE),
      MDE_SUBMITS_PER_MINUTE: "1",
    });
    agent = await server.connect({});
  }, 60_000);
  afterAll(async () => {
    await agent?.close();
    await server?.stop();
    await redis?.close();
    await t?.close();
  });

  const run = async (machineId: string): Promise<ActionEntry> => {
    const result = await agent.callTool({
      name: "run_live_response",
      arguments: {
        machine_ids: [machineId],
        commands: [{ type: "RunScript", script_name: SCRIPT }],
        comment: "coordination outage",
        wait_seconds: 0,
      },
    });
    const [entry] = (result.structuredContent as { actions: ActionEntry[] }).actions;
    if (entry === undefined) throw new Error(JSON.stringify(result));
    return entry;
  };
  const getAction = async (requestId: string, waitSeconds: number): Promise<ActionEntry> => {
    const result = await agent.callTool({
      name: "get_action",
      arguments: { request_id: requestId, wait_seconds: waitSeconds },
    });
    const entry = (result.structuredContent as { action?: ActionEntry }).action;
    if (result.isError || entry === undefined) throw new Error(JSON.stringify(result));
    return entry;
  };

  it("says submits are paused while Redis is away, then submits the request once when it returns", async () => {
    // The first takes the window's one submit.
    let first = await run(DEVICES.finance);
    for (let i = 0; i < 20 && first.action_id === null; i++)
      first = await getAction(first.request_id ?? "", 1);
    expect(first.action_id).not.toBeNull();
    const second = await run(DEVICES.hr);
    expect(second.status).toBe("Queued");
    const requestId = second.request_id ?? "";
    expect(requestId).toMatch(/^req_/);
    expect(second.status_detail).not.toMatch(/Redis/);

    await redis.stop();
    let paused: ActionEntry | undefined;
    for (let i = 0; i < 100 && paused === undefined; i++) {
      const entry = await getAction(requestId, 0);
      if (entry.status_detail?.includes("Redis")) paused = entry;
      else await sleep(100);
    }
    expect(paused).toMatchObject({ status: "Queued", action_id: null });
    expect(paused?.status_detail).toMatch(
      /shared coordination store \(Redis\).*unreachable: submits are paused until it returns/,
    );
    expect(paused?.next_step).toMatch(/^do not send it again/);
    expect(t.sim.stats().submitsAccepted).toBe(1);

    await redis.start();
    let entry = paused;
    for (
      let i = 0;
      i < 60 && (entry?.status === "Queued" || entry?.status === "Pending" || entry?.status === "InProgress");
      i++
    ) {
      entry = await getAction(requestId, 2);
    }
    expect(entry).toMatchObject({ status: "Succeeded", machine_id: DEVICES.hr });
    expect(entry?.status_detail ?? "").not.toMatch(/Redis/);
    const stats = t.sim.stats();
    expect(stats.submitsAccepted).toBe(2);
    expect(stats.duplicateSubmissions).toBe(0);
    expect(stats.throttledTotal).toBe(0);
    const tagged = t.sim.engine.listActions().filter((a) => a.requestorComment?.includes(requestId));
    expect(tagged).toHaveLength(1);
  });

  it("says the same of a request that failed because Redis was unreachable: nothing was sent, submits are paused", () => {
    const error = new CoordinationUnavailableError("disconnected", "lock-take: connection refused");
    const entry = notSubmittedEntry(
      {
        requestId: "req_000000000001",
        machineId: DEVICES.hr,
        machine: undefined,
        action: undefined,
        error,
        merged: false,
        recovered: false,
      },
      describeError(error, { submit: true }),
    );
    expect(entry).toMatchObject({ status: "NotSubmitted", error: { code: "COORDINATION_UNAVAILABLE" } });
    expect(entry.status_detail).toMatch(
      /^nothing was sent to Defender: the shared coordination store \(Redis\)/,
    );
    expect(entry.status_detail).toMatch(/submits are paused until it returns/);
    expect(entry.next_step).toMatch(/Redis is unreachable/);
  });
});
