import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { DefenderClient } from "../../../src/defender/defenderClient.js";
import { ApiLimiters } from "../../../src/defender/limits/apiLimiters.js";
import { TEST_TIME_SCALE, generatedDeviceId, scenarioWith } from "../../helpers/simulatorHarness.js";
import { until } from "../../helpers/until.js";
import { DEVICES, SCRIPT, quietLogger, startClientFixture, type ClientFixture } from "../clientFixture.js";

/**
 * The client's limiters against the simulator's limits, both on the same time scale (a minute is
 * 100 ms): the simulator counts what arrives and answers 429 to anything over its budget.
 */
const DEVICE_COUNT = 25;
let fx: ClientFixture;
let limiters: ApiLimiters;
let client: DefenderClient;

beforeAll(async () => {
  fx = await startClientFixture({ scenario: scenarioWith({ devices: DEVICE_COUNT }) });
  // One token up front, so the concurrent calls below are not also a race for the first token.
  await fx.tokenProvider.getToken();
});

afterAll(async () => {
  await fx.close();
});

beforeEach(() => {
  fx.t.sim.reset();
  limiters = new ApiLimiters({ timeScale: TEST_TIME_SCALE, logger: quietLogger });
  client = fx.client({ limiters });
});

afterEach(async () => {
  await limiters.stop();
});

const submit = (device: number, comment = `limits test ${device}`) =>
  client.runLiveResponse(generatedDeviceId(device), {
    commands: [{ type: "RunScript", scriptName: SCRIPT }],
    comment,
  });

describe("the submit limiter", () => {
  it("gets 25 concurrent submits accepted without a 429, in bursts of at most 10 a minute", async () => {
    const actions = await Promise.all(Array.from({ length: DEVICE_COUNT }, (_, i) => submit(i)));
    expect(new Set(actions.map((a) => a.id)).size).toBe(DEVICE_COUNT);
    const stats = fx.t.sim.stats();
    expect(stats.calls.runliveresponse).toBe(DEVICE_COUNT);
    expect(stats.throttled.runliveresponse).toBe(0);
    expect(stats.submitsAccepted).toBe(DEVICE_COUNT);
    // Never more than ten in any window (their arrival is what the simulator counts).
    expect(stats.maxSubmitsInAnyWindow).toBeLessThanOrEqual(10);
    expect(limiters.snapshot().submit).toMatchObject({ admitted: DEVICE_COUNT, queued: 0, throttled: 0 });
  });

  it("after a 429, holds the refused submit and the queued ones until the Retry-After, while reads go on", async () => {
    // 100 s: under the 120 s Retry-After the client waits for (a longer one is handed back).
    fx.t.sim.setFaults({ tooManyRequestsForSeconds: 100, endpoints: ["runliveresponse"] });
    const refused = submit(0);
    await until(() => limiters.snapshot().submit.gateClosedUntil !== null);

    const waiting = Array.from({ length: 5 }, (_, i) => submit(i + 1));
    // The read budget has its own gate, still open.
    await client.getMachine(DEVICES.finance);
    expect(fx.t.sim.stats().calls.runliveresponse).toBe(1);
    expect(limiters.snapshot().submit.queued).toBe(6);

    await Promise.all([refused, ...waiting]);
    const stats = fx.t.sim.stats();
    // The refused submit went again first, once the gate reopened, and the five after it: none of the
    // six was sent into the storm a second time.
    expect(stats.calls.runliveresponse).toBe(7);
    expect(stats.faultsInjected.throttled).toBe(1);
    expect(stats.submitsAccepted).toBe(6);
  });
});

describe("the read limiter", () => {
  it("answers 150 concurrent reads without a single 429", async () => {
    // A minute of 500 ms here: sending a hundred calls on fresh TLS connections keeps the event loop
    // busy for longer than the usual 100 ms minute, which would spread the burst over two windows.
    const scale = 120;
    const own = await startClientFixture({
      scenario: scenarioWith({ devices: DEVICE_COUNT }),
      timeScale: scale,
    });
    const readLimiters = new ApiLimiters({ timeScale: scale, logger: quietLogger });
    try {
      await own.tokenProvider.getToken();
      const reader = own.client({ limiters: readLimiters });
      const machines = await Promise.all(
        Array.from({ length: 150 }, (_, i) => reader.getMachine(generatedDeviceId(i % DEVICE_COUNT))),
      );
      expect(machines).toHaveLength(150);
      const stats = own.t.sim.stats();
      expect(stats.calls.getMachine).toBe(150);
      expect(stats.throttledTotal).toBe(0);
      // A full minute's hundred went out together; the other fifty waited for the next minute.
      expect(readLimiters.snapshot().reads.windows[0]?.maxStartedInAnyWindow).toBe(100);
    } finally {
      await readLimiters.stop();
      await own.close();
    }
  });

  it("sends one probe per Retry-After through a 429 storm, and every queued read succeeds after it", async () => {
    fx.t.sim.setFaults({ tooManyRequestsForSeconds: 100, endpoints: ["getMachine"] });
    const first = client.getMachine(DEVICES.finance);
    await vi.waitFor(() => expect(limiters.snapshot().reads.gateClosedUntil).not.toBeNull(), {
      interval: 1,
    });
    // The storm goes on past this pause, so the first probe meets it too.
    fx.t.sim.setFaults({ tooManyRequestsForSeconds: 100, endpoints: ["getMachine"] });
    const queued = Array.from({ length: 20 }, (_, i) => client.getMachine(generatedDeviceId(i)));

    const machines = await Promise.all([first, ...queued]);
    expect(machines).toHaveLength(21);
    const stats = fx.t.sim.stats();
    // The first call, one probe per pause (the second succeeded), then the rest.
    expect(stats.faultsInjected.throttled).toBe(2);
    expect(stats.calls.getMachine).toBe(2 + 21);
    expect(limiters.snapshot().reads).toMatchObject({
      throttled: 2,
      gateClosedUntil: null,
      probing: false,
      queued: 0,
    });
  });
});
