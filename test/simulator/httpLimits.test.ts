import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, test } from "vitest";
import { ManualClock, type SimulatorOptions } from "../../src/simulator/index.js";
import {
  generatedDeviceId,
  scenarioWith,
  startTestSimulator,
  type TestSimulator,
} from "../helpers/simulatorHarness.js";

const submitBody = () => ({
  Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: "Get-Autoruns.ps1" }] }],
  Comment: `limits ${randomUUID()}`,
});

let t: TestSimulator | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A simulator whose time moves only when the test says so. */
async function start(options: SimulatorOptions & { devices?: number; offline?: boolean }) {
  const clock = new ManualClock();
  const { devices = 0, offline = false, ...rest } = options;
  t = await startTestSimulator({
    clock,
    scenario: scenarioWith({ devices, device: offline ? { availability: "offline" } : {} }),
    ...rest,
  });
  return { sim: t, clock };
}

const submit = (sim: TestSimulator, device: number) =>
  sim.call("POST", `/api/machines/${generatedDeviceId(device)}/runliveresponse`, { body: submitBody() });

describe("limits over HTTP", () => {
  test("ten quick submits are accepted, the eleventh is 429 with Retry-After and x-ms-retry-after-ms", async () => {
    const { sim, clock } = await start({ timeScale: 1, devices: 12 });
    for (let i = 0; i < 10; i++) {
      expect((await submit(sim, i)).status).toBe(201);
      clock.advance(500);
    }
    const eleventh = await submit(sim, 10);
    expect(eleventh.status).toBe(429);
    expect(eleventh.json).toMatchObject({ error: { code: "TooManyRequests" } });
    expect(eleventh.headers["retry-after"]).toBe("55");
    expect(eleventh.headers["x-ms-retry-after-ms"]).toBe("55000");

    clock.advance(55_000);
    expect((await submit(sim, 10)).status).toBe(201);
    const stats = sim.sim.stats();
    expect(stats).toMatchObject({
      submitsAccepted: 11,
      maxSubmitsInAnyWindow: 10,
      throttledTotal: 1,
      duplicateSubmissions: 0,
    });
    expect(stats.throttled.runliveresponse).toBe(1);
    expect(stats.calls.runliveresponse).toBe(12);
  });

  test("Retry-After is scaled: whole seconds, at least 1, with the precise wait in x-ms-retry-after-ms", async () => {
    const { sim } = await start({ timeScale: 600, devices: 11 });
    for (let i = 0; i < 10; i++) await submit(sim, i);
    const eleventh = await submit(sim, 10);
    expect(eleventh.status).toBe(429);
    expect(eleventh.headers["retry-after"]).toBe("1");
    expect(eleventh.headers["x-ms-retry-after-ms"]).toBe("100");
  });

  test("the session cap counts actions queued on offline devices", async () => {
    const { sim } = await start({ timeScale: 1, devices: 4, offline: true, maxSessions: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await submit(sim, i);
      expect(res.status).toBe(201);
      ids.push((res.json as { id: string }).id);
    }
    const fourth = await submit(sim, 3);
    expect(fourth.status).toBe(429);
    expect(fourth.json).toMatchObject({ error: { code: "TooManyRequests" } });
    expect(Number(fourth.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(sim.sim.stats()).toMatchObject({ activeSessions: 3, maxActiveSessions: 3 });

    await sim.call("POST", `/api/machineactions/${ids[0]}/cancel`, { body: { Comment: "free a slot" } });
    expect((await submit(sim, 3)).status).toBe(201);
  });

  test("the extended profile allows 50 sessions", async () => {
    const { sim, clock } = await start({ timeScale: 1, devices: 51, offline: true, profile: "extended" });
    for (let i = 0; i < 50; i++) {
      expect((await submit(sim, i)).status).toBe(201);
      clock.advance(6_000);
    }
    expect((await submit(sim, 50)).status).toBe(429);
    expect(sim.sim.stats().activeSessions).toBe(50);
  });

  test("reads: 100 per minute per endpoint, then 429 until the window moves on", async () => {
    const { sim, clock } = await start({ timeScale: 1 });
    for (let i = 0; i < 100; i++) expect((await sim.call("GET", "/api/machines")).status).toBe(200);
    const over = await sim.call("GET", "/api/machines");
    expect(over.status).toBe(429);
    expect(over.headers["retry-after"]).toBe("60");
    expect((await sim.call("GET", "/api/libraryfiles")).status).toBe(200);
    clock.advance(60_000);
    expect((await sim.call("GET", "/api/machines")).status).toBe(200);
    expect(sim.sim.stats().throttled.listMachines).toBe(1);
  });

  test("duplicateSubmissions counts a second created action with the same device and comment", async () => {
    const { sim, clock } = await start({ timeScale: 1, devices: 1 });
    const body = submitBody();
    const device = generatedDeviceId(0);
    expect((await sim.call("POST", `/api/machines/${device}/runliveresponse`, { body })).status).toBe(201);
    clock.advance(3600_000);
    expect((await sim.call("POST", `/api/machines/${device}/runliveresponse`, { body })).status).toBe(201);
    expect(sim.sim.stats().duplicateSubmissions).toBe(1);
  });
});
