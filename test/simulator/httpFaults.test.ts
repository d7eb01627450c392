import { randomUUID } from "node:crypto";
import { request } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { ManualClock } from "../../src/simulator/index.js";
import { startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";

const FINANCE = "9d663375e3e46799a6657b0c0c74b873c9fcd069";
const HR = "2be8a43e061cff68020fca2c9ac134d5d0d20a1b";

let t: TestSimulator;
let clock: ManualClock;

beforeAll(async () => {
  clock = new ManualClock();
  t = await startTestSimulator({ clock, timeScale: 1 });
});
afterAll(() => t.close());
beforeEach(() => t.sim.reset());

const setFaults = (faults: unknown) => t.call("POST", "/_simulator/faults", { token: null, body: faults });
const submitBody = (comment: string) => ({
  Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: "Get-Autoruns.ps1" }] }],
  Comment: comment,
});

async function actionsWithComment(comment: string): Promise<unknown[]> {
  const list = await t.call("GET", "/api/machineactions");
  return (list.json as { value: { requestorComment: string }[] }).value.filter(
    (a) => a.requestorComment === comment,
  );
}

describe("fault injection", () => {
  test("errorRate 1 answers the chosen 5xx in the API's error shape, and is counted", async () => {
    const res = await setFaults({ errorRate: 1, errorStatus: 503 });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ errorRate: 1, errorStatus: 503, resetRate: 0, afterProcessing: false });
    const call = await t.call("GET", "/api/machines");
    expect(call.status).toBe(503);
    expect(call.json).toMatchObject({ error: { code: "ServiceUnavailable" } });
    expect(t.sim.stats().faultsInjected.errors).toBe(1);
  });

  test("`endpoints` limits faults to the named endpoints", async () => {
    await setFaults({ errorRate: 1, endpoints: ["listMachines"] });
    expect((await t.call("GET", "/api/machines")).status).toBe(500);
    expect((await t.call("GET", `/api/machines/${FINANCE}`)).status).toBe(200);
  });

  test("an error before processing leaves no action; after processing the action exists", async () => {
    await setFaults({ errorRate: 1, endpoints: ["runliveresponse"] });
    expect(
      (await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, { body: submitBody("before") }))
        .status,
    ).toBe(500);
    await setFaults({ errorRate: 1, afterProcessing: true, endpoints: ["runliveresponse"] });
    expect(
      (await t.call("POST", `/api/machines/${HR}/runliveresponse`, { body: submitBody("after") })).status,
    ).toBe(500);
    await setFaults({});
    expect(await actionsWithComment("before")).toHaveLength(0);
    expect(await actionsWithComment("after")).toHaveLength(1);
  });

  test("a reset after processing: the client sees the connection drop, yet the action was created", async () => {
    await setFaults({ resetRate: 1, afterProcessing: true, endpoints: ["runliveresponse"] });
    const comment = `ambiguous ${randomUUID()}`;
    await expect(
      t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, { body: submitBody(comment) }),
    ).rejects.toThrow();
    await setFaults({});
    expect(await actionsWithComment(comment)).toHaveLength(1);
    expect(t.sim.stats()).toMatchObject({ faultsInjected: { resets: 1 }, submitsAccepted: 1 });
  });

  test("malformedBodyRate 1 answers 2xx with a body that is not JSON", async () => {
    await setFaults({ malformedBodyRate: 1 });
    const res = await t.call("GET", "/api/machines");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(() => JSON.parse(res.text)).toThrow();
    expect(t.sim.stats().faultsInjected.malformed).toBe(1);
  });

  test("a 429 storm answers every call with Retry-After until it ends; it is not counted as the client's", async () => {
    await setFaults({ tooManyRequestsForSeconds: 30 });
    clock.advance(10_000);
    const res = await t.call("GET", "/api/libraryfiles");
    expect(res.status).toBe(429);
    expect(res.json).toMatchObject({ error: { code: "TooManyRequests" } });
    expect(res.headers["retry-after"]).toBe("20");
    expect(res.headers["x-ms-retry-after-ms"]).toBe("20000");
    clock.advance(20_000);
    expect((await t.call("GET", "/api/libraryfiles")).status).toBe(200);
    expect(t.sim.stats()).toMatchObject({ throttledTotal: 0, faultsInjected: { throttled: 1 } });
  });

  test("tokenEndpointDown makes the token endpoint answer 503 while the API keeps working", async () => {
    await t.token();
    await setFaults({ tokenEndpointDown: true });
    await expect(t.token()).rejects.toThrow(/HTTP 503/);
    expect((await t.call("GET", "/api/machines")).status).toBe(200);
    expect(t.sim.stats().tokens.refused).toBe(1);
  });

  test("a seed makes random faults repeatable", async () => {
    const run = async () => {
      await setFaults({ errorRate: 0.5, seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) statuses.push((await t.call("GET", "/api/libraryfiles")).status);
      return statuses;
    };
    const first = await run();
    expect(new Set(first)).toEqual(new Set([200, 500]));
    expect(await run()).toEqual(first);
  });

  test("an invalid faults body is 400 naming the field; GET answers the faults in force", async () => {
    await setFaults({ latencyMs: 1 });
    for (const [body, field] of [
      [{ errorRate: 2 }, "errorRate"],
      [{ errorStatus: 418 }, "errorStatus"],
      [{ endpoints: ["nope"] }, "endpoints"],
      [{ resetRat: 1 }, "resetRat"],
    ] as const) {
      const res = await setFaults(body);
      expect(res.status).toBe(400);
      expect((res.json as { error: { message: string } }).error.message).toContain(field);
    }
    const current = await t.call("GET", "/_simulator/faults", { token: null });
    expect(current.json).toMatchObject({ latencyMs: 1, errorRate: 0 });
  });
});

describe("stats and reset", () => {
  test("stats count calls per endpoint; reset clears actions, windows, counts and faults", async () => {
    const created = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, {
      body: submitBody("stats"),
    });
    const id = (created.json as { id: string }).id;
    await t.call("GET", `/api/machineactions/${id}`);
    await setFaults({ errorRate: 1, endpoints: ["listMachines"] });

    const stats = await t.call("GET", "/_simulator/stats", { token: null });
    expect(stats.status).toBe(200);
    expect(stats.json).toMatchObject({
      calls: { runliveresponse: 1, getMachineAction: 1, listMachines: 0 },
      submitsAccepted: 1,
      maxSubmitsInAnyWindow: 1,
      activeSessions: 1,
      maxActiveSessions: 1,
      tokens: { issued: expect.any(Number), refused: 0 },
    });

    const reset = await request(`${t.sim.apiBase}/_simulator/reset`, {
      method: "POST",
      dispatcher: t.dispatcher,
    });
    expect(reset.statusCode).toBe(204);
    await reset.body.dump();
    expect(t.sim.stats()).toMatchObject({
      calls: { runliveresponse: 0, getMachineAction: 0 },
      submitsAccepted: 0,
      maxSubmitsInAnyWindow: 0,
      activeSessions: 0,
      maxActiveSessions: 0,
      tokens: { issued: 0, refused: 0 },
    });
    expect((await t.call("GET", `/api/machineactions/${id}`)).status).toBe(404);
    expect((await t.call("GET", "/api/machines")).status).toBe(200);
  });

  test("unknown control routes are 404", async () => {
    const res = await t.call("GET", "/_simulator/nothing", { token: null });
    expect(res.status).toBe(404);
  });
});
