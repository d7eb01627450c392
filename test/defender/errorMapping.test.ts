import { randomUUID } from "node:crypto";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DefenderClient, LiveResponseCommand } from "../../src/defender/defenderClient.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
  submitOutcome,
} from "../../src/defender/errors.js";
import { scenarioWith } from "../helpers/simulatorHarness.js";
import {
  CountingTokenProvider,
  DEVICES,
  OTHER_SCRIPT,
  SCRIPT,
  msalProvider,
  failureRecorder,
  startClientFixture,
  type ClientFixture,
} from "./clientFixture.js";

const readOnlyApp = {
  clientId: randomUUID(),
  displayName: "read-only triage app",
  clientSecret: `ro-secret-${randomUUID()}`,
  roles: ["Machine.Read.All"],
};

let fx: ClientFixture;
let client: DefenderClient;
/** Every error message this file saw: none may carry a secret. */
const { messages, failure } = failureRecorder();

const script: LiveResponseCommand[] = [{ type: "RunScript", scriptName: SCRIPT }];

beforeAll(async () => {
  fx = await startClientFixture({ scenario: scenarioWith({ apps: [readOnlyApp] }) });
  client = fx.client();
});

afterAll(async () => {
  const token = await fx.tokenProvider.getToken();
  for (const message of messages) {
    expect(message).not.toContain(token);
    expect(message).not.toContain(fx.t.sim.clientSecret);
    expect(message).not.toContain(readOnlyApp.clientSecret);
    expect(message).not.toMatch(/sig=|Bearer /);
  }
  expect(messages.length).toBeGreaterThan(10);
  await fx.close();
});

beforeEach(() => {
  fx.t.sim.reset();
});

function calls(endpoint: string): number {
  return fx.t.sim.stats().calls[endpoint] ?? 0;
}

describe("400", () => {
  it("maps ActiveRequestAlreadyExists, with the request id, as not executed", async () => {
    await client.runLiveResponse(DEVICES.offlineKiosk, {
      commands: script,
      comment: `first ${randomUUID()}`,
    });
    const error = await failure(
      client.runLiveResponse(DEVICES.offlineKiosk, {
        commands: [{ type: "RunScript", scriptName: OTHER_SCRIPT }],
        comment: `second ${randomUUID()}`,
      }),
      DefenderApiError,
    );
    expect(error).toMatchObject({
      status: 400,
      code: "ActiveRequestAlreadyExists",
      endpoint: "runLiveResponse",
    });
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitOutcome(error)).toBe("not_executed");
    expect(calls("runliveresponse")).toBe(2);
  });

  it("refuses forbidden script arguments itself, before the API would, with zero calls", async () => {
    const error = await failure(
      client.runLiveResponse(DEVICES.hr, {
        commands: [{ type: "RunScript", scriptName: SCRIPT, args: "a; whoami" }],
        comment: "args",
      }),
      InvalidInputError,
    );
    expect(error.field).toBe("commands[0].args");
    expect(error.message).toContain(";");
    expect(calls("runliveresponse")).toBe(0);
  });

  it("maps the API's InvalidInput (a result index out of range)", async () => {
    const action = await client.runLiveResponse(DEVICES.hr, {
      commands: script,
      comment: `range ${randomUUID()}`,
    });
    const error = await failure(client.getLiveResponseResultDownloadLink(action.id, 7), DefenderApiError);
    expect(error).toMatchObject({
      status: 400,
      code: "InvalidInput",
      endpoint: "getLiveResponseResultDownloadLink",
    });
  });
});

describe("401", () => {
  it("refreshes the token once and succeeds", async () => {
    const tokens = new CountingTokenProvider(fx.tokenProvider, 1);
    const action = await fx.client({ tokenProvider: tokens }).runLiveResponse(DEVICES.hr, {
      commands: script,
      comment: `refresh ${randomUUID()}`,
    });
    expect(action.status).toBe("Pending");
    expect(tokens.requests.map((r) => r.forceRefresh)).toEqual([false, true]);
    expect(calls("runliveresponse")).toBe(2);
    expect(fx.t.sim.stats().submitsAccepted).toBe(1);
  });

  it("gives up after one refresh when the token stays bad", async () => {
    const tokens = new CountingTokenProvider(fx.tokenProvider, Infinity);
    const error = await failure(
      fx.client({ tokenProvider: tokens }).getMachineAction(randomUUID()),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 401, code: "Unauthorized", endpoint: "getMachineAction" });
    expect(tokens.requests).toHaveLength(2);
    expect(calls("getMachineAction")).toBe(2);
  });
});

describe("403 and 404", () => {
  it("maps a missing permission to 403 Forbidden, not executed", async () => {
    const readOnly = fx.client({ tokenProvider: msalProvider(fx.t, readOnlyApp) });
    const error = await failure(
      readOnly.runLiveResponse(DEVICES.hr, { commands: script, comment: "no role" }),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 403, code: "Forbidden" });
    expect(submitOutcome(error)).toBe("not_executed");
    expect(calls("runliveresponse")).toBe(1);
  });

  it("maps unknown ids to 404 ResourceNotFound without retrying", async () => {
    const action = await failure(client.getMachineAction(randomUUID()), DefenderApiError);
    expect(action).toMatchObject({ status: 404, code: "ResourceNotFound" });
    const machine = await failure(client.getMachine("0".repeat(40)), DefenderApiError);
    expect(machine).toMatchObject({ status: 404, code: "ResourceNotFound", endpoint: "getMachine" });
    expect(calls("getMachineAction")).toBe(1);
    expect(calls("getMachine")).toBe(1);
  });
});

describe("429", () => {
  it("retries a read after Retry-After and succeeds", async () => {
    fx.t.sim.setFaults({ tooManyRequestsForSeconds: 30, endpoints: ["listLibraryFiles"] });
    const library = await client.listLibraryFiles();
    expect(library.items.length).toBeGreaterThan(0);
    expect(fx.t.sim.stats().faultsInjected.throttled).toBeGreaterThanOrEqual(1);
    expect(calls("listLibraryFiles")).toBe(fx.t.sim.stats().faultsInjected.throttled + 1);
  });

  it("keeps a refused submit in its place and sends it again once the Retry-After has passed", async () => {
    fx.t.sim.setFaults({ tooManyRequestsForSeconds: 30, endpoints: ["runliveresponse"] });
    const action = await client.runLiveResponse(DEVICES.hr, { commands: script, comment: "throttled" });
    expect(action.status).toBe("Pending");
    const throttled = fx.t.sim.stats().faultsInjected.throttled;
    expect(throttled).toBeGreaterThanOrEqual(1);
    // Every 429 was followed by one more try, and the last try was accepted.
    expect(calls("runliveresponse")).toBe(throttled + 1);
    expect(fx.t.sim.stats().submitsAccepted).toBe(1);
  });

  it("hands back a submit's 429 whose Retry-After is longer than it waits, saying that nothing ran", async () => {
    fx.t.sim.setFaults({ tooManyRequestsForSeconds: 3000, endpoints: ["runliveresponse"] });
    const error = await failure(
      fx
        .client({ retry: { maxRetryAfterMs: 1_000 } })
        .runLiveResponse(DEVICES.hr, { commands: script, comment: "throttled" }),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 429, code: "TooManyRequests" });
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(submitOutcome(error)).toBe("not_executed");
    expect(calls("runliveresponse")).toBe(1);
  });
});

describe("5xx", () => {
  it("retries reads up to maxRetries, then reports the status", async () => {
    fx.t.sim.setFaults({ errorRate: 1, errorStatus: 503, endpoints: ["getMachineAction"] });
    const error = await failure(
      fx.client({ retry: { maxRetries: 2 } }).getMachineAction(randomUUID()),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 503, code: "ServiceUnavailable" });
    expect(calls("getMachineAction")).toBe(3);
  });

  it("does not retry the submit, whose outcome is unknown", async () => {
    fx.t.sim.setFaults({ errorRate: 1, errorStatus: 500, endpoints: ["runliveresponse"] });
    const error = await failure(
      client.runLiveResponse(DEVICES.hr, { commands: script, comment: "5xx" }),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 500, code: "InternalServerError" });
    expect(submitOutcome(error)).toBe("unknown");
    expect(calls("runliveresponse")).toBe(1);
  });

  it("does not retry the cancel", async () => {
    fx.t.sim.setFaults({ errorRate: 1, errorStatus: 502, endpoints: ["cancelMachineAction"] });
    await failure(client.cancelMachineAction(randomUUID(), "stop"), DefenderApiError);
    expect(calls("cancelMachineAction")).toBe(1);
  });
});

describe("connection reset", () => {
  it("reports a submit reset after processing as unknown, and the action is found by its tag", async () => {
    const since = new Date(Date.now() - 60_000);
    const tag = `[req:${randomUUID()}]`;
    fx.t.sim.setFaults({ resetRate: 1, afterProcessing: true, endpoints: ["runliveresponse"] });
    const error = await failure(
      client.runLiveResponse(DEVICES.dc, { commands: script, comment: `reset ${tag}` }),
      DefenderNetworkError,
    );
    expect(error).toMatchObject({ code: "ECONNRESET", endpoint: "runLiveResponse" });
    expect(error.sent).not.toBe(false);
    expect(submitOutcome(error)).toBe("unknown");
    expect(calls("runliveresponse")).toBe(1);
    expect(fx.t.sim.stats().submitsAccepted).toBe(1);

    fx.t.sim.setFaults({});
    const found = await client.findLiveResponseActionsByComment(DEVICES.dc, tag, since);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ machineId: DEVICES.dc, type: "LiveResponse" });
  });

  it("retries a read whose connection was reset", async () => {
    fx.t.sim.setFaults({ resetRate: 1, endpoints: ["listMachines"] });
    const error = await failure(fx.client({ retry: { maxRetries: 1 } }).listMachines(), DefenderNetworkError);
    expect(error.code).toBe("ECONNRESET");
    expect(calls("listMachines")).toBe(2);
  });
});

describe("connection failures before sending", () => {
  it("maps a refused connection to ECONNREFUSED: not sent, not executed", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const nowhere = fx.client({ apiBaseUrl: `https://127.0.0.1:${port}`, retry: { maxRetries: 0 } });
    const error = await failure(
      nowhere.runLiveResponse(DEVICES.hr, { commands: script, comment: "refused" }),
      DefenderNetworkError,
    );
    expect(error).toMatchObject({ code: "ECONNREFUSED", sent: false });
    expect(submitOutcome(error)).toBe("not_executed");
  });

  it("maps an untrusted certificate to a TLS failure: not sent, not executed, not retried", async () => {
    const untrusting = fx.client({ ca: undefined });
    const error = await failure(
      untrusting.runLiveResponse(DEVICES.hr, { commands: script, comment: "tls" }),
      DefenderNetworkError,
    );
    expect(error.sent).toBe(false);
    expect(submitOutcome(error)).toBe("not_executed");
    expect(calls("runliveresponse")).toBe(0);
    await failure(untrusting.listMachines(), DefenderNetworkError);
    expect(calls("listMachines")).toBe(0);
  });
});

describe("timeouts and aborts", () => {
  // 40 minutes of API time: four seconds at the test time scale, well past undici's coarse
  // (half-second tick) header timer.
  const slow = { latencyMs: 2_400_000 };

  it("maps a response slower than headersTimeout to UND_ERR_HEADERS_TIMEOUT (sent, outcome unknown)", async () => {
    fx.t.sim.setFaults({ ...slow, endpoints: ["runliveresponse"] });
    const impatient = fx.client({ timeouts: { headersMs: 50 } });
    const error = await failure(
      impatient.runLiveResponse(DEVICES.fileServer, { commands: script, comment: "slow" }),
      DefenderNetworkError,
    );
    expect(error).toMatchObject({ code: "UND_ERR_HEADERS_TIMEOUT", sent: true });
    expect(submitOutcome(error)).toBe("unknown");
    expect(calls("runliveresponse")).toBe(1);
  });

  it("aborts a call in flight with ABORTED and does not retry it", async () => {
    fx.t.sim.setFaults({ ...slow, endpoints: ["getMachineAction"] });
    const controller = new AbortController();
    const pending = client.getMachineAction(randomUUID(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await failure(pending, DefenderNetworkError);
    expect(error).toMatchObject({ code: "ABORTED", endpoint: "getMachineAction" });
    expect(calls("getMachineAction")).toBe(1);
  });

  it("makes no request when the signal is already aborted", async () => {
    const error = await failure(
      client.runLiveResponse(
        DEVICES.hr,
        { commands: script, comment: "never" },
        { signal: AbortSignal.abort() },
      ),
      DefenderNetworkError,
    );
    expect(error).toMatchObject({ code: "ABORTED", sent: false });
    expect(submitOutcome(error)).toBe("not_executed");
    expect(calls("runliveresponse")).toBe(0);
  });
});

describe("malformed 2xx bodies", () => {
  it("reports a read's malformed body as INVALID_RESPONSE without retrying", async () => {
    fx.t.sim.setFaults({ malformedBodyRate: 1, endpoints: ["listMachines"] });
    const error = await failure(client.listMachines(), DefenderResponseError);
    expect(error).toMatchObject({ code: "INVALID_RESPONSE", reason: "not_json", status: 200 });
    expect(calls("listMachines")).toBe(1);
  });

  it("reports a submit's malformed body with outcome unknown", async () => {
    fx.t.sim.setFaults({ malformedBodyRate: 1, endpoints: ["runliveresponse"] });
    const error = await failure(
      client.runLiveResponse(DEVICES.appServer, { commands: script, comment: `bad body ${randomUUID()}` }),
      DefenderResponseError,
    );
    expect(error).toMatchObject({ code: "INVALID_RESPONSE", status: 201 });
    expect(submitOutcome(error)).toBe("unknown");
    expect(fx.t.sim.stats().submitsAccepted).toBe(1);
  });
});
