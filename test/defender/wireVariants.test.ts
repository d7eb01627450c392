import type http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DefenderClient } from "../../src/defender/defenderClient.js";
import { DefenderApiError, DefenderResponseError } from "../../src/defender/errors.js";
import { USER_AGENT } from "../../src/defender/httpTransport.js";
import { version } from "../../src/version.js";
import {
  quietLogger,
  rejectionOf,
  startStubServer,
  staticTokenProvider,
  type StubServer,
} from "./clientFixture.js";

/**
 * Variants the real API is documented (or reported) to send that the simulator does not: a stub
 * HTTPS server answers each request with a hand-written body, and the client must cope.
 */

const MACHINE = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";
const ACTION = "5382f7ea-7557-4ab7-9782-d50480024a4e";

type Reply = { status: number; body: unknown; headers?: Record<string, string> };
let next: (req: http.IncomingMessage, body: string) => Reply;
let stub: StubServer;
let client: DefenderClient;
const received: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];

beforeAll(async () => {
  stub = await startStubServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const reply = next(req, body);
      const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(text);
    });
  });
  client = new DefenderClient({
    apiBaseUrl: stub.origin,
    tokenProvider: staticTokenProvider,
    ca: stub.caCertPem,
    timeScale: 600,
    maxResponseBytes: 64 * 1024,
    logger: quietLogger,
  });
});

afterEach(() => {
  received.length = 0;
});

afterAll(async () => {
  await client.close();
  await stub.close();
});

const docsAction = {
  id: ACTION,
  type: "LiveResponse",
  requestor: "analyst@contoso.com",
  requestorComment: "docs example",
  status: "Pending",
  machineId: MACHINE,
  computerDnsName: "desktop-test",
  creationDateTimeUtc: "2021-02-04T15:36:46.2785014Z",
  lastUpdateTimeUtc: "2021-02-04T15:36:46.2785014Z",
  errorHResult: 0,
  externalID: null,
  commands: [
    {
      index: 0,
      startTime: null,
      endTime: null,
      commandStatus: "Created",
      errors: [],
      command: { type: "RunScript", params: [{ key: "ScriptName", value: "minidump.ps1" }] },
    },
  ],
  someFutureField: { nested: true },
};

describe("requests", () => {
  it("sends the bearer token, JSON, and the product's User-Agent to the API", async () => {
    next = () => ({ status: 201, body: docsAction });
    await client.runLiveResponse(MACHINE, {
      commands: [{ type: "RunScript", scriptName: "minidump.ps1", args: "OfficeClickToRun" }],
      comment: "Testing Live Response API",
    });
    const [request] = received;
    expect(request).toMatchObject({ method: "POST", url: `/api/machines/${MACHINE}/runliveresponse` });
    expect(request?.headers).toMatchObject({
      authorization: "Bearer stub-token",
      "content-type": "application/json",
      "user-agent": `mde-live-response-mcp/${version}`,
    });
    expect(USER_AGENT).toBe(`mde-live-response-mcp/${version}`);
    expect(JSON.parse(request?.body ?? "")).toEqual({
      Commands: [
        {
          type: "RunScript",
          params: [
            { key: "ScriptName", value: "minidump.ps1" },
            { key: "Args", value: "OfficeClickToRun" },
          ],
        },
      ],
      Comment: "Testing Live Response API",
    });
  });

  it("writes OData queries with $ keys and %20 spaces", async () => {
    next = () => ({ status: 200, body: { value: [] } });
    await client.findLiveResponseActionsByComment(MACHINE, "tag", new Date("2026-01-02T03:04:05Z"));
    expect(received[0]?.url).toBe(
      "/api/machineactions?$filter=(machineId%20eq%20%271e5bc9d7e413ddd7902c2932e418702b84d0cc07%27)%20and%20(type%20eq%20%27LiveResponse%27)%20and%20(creationDateTimeUtc%20ge%202026-01-02T03%3A04%3A05.000Z)",
    );
  });

  it("sends the cancel comment as { Comment }", async () => {
    next = () => ({ status: 200, body: { ...docsAction, status: "Cancelled" } });
    await client.cancelMachineAction(ACTION, "Machine action was canceled by automation");
    expect(received[0]).toMatchObject({ method: "POST", url: `/api/machineactions/${ACTION}/cancel` });
    expect(JSON.parse(received[0]?.body ?? "")).toEqual({
      Comment: "Machine action was canceled by automation",
    });
  });
});

describe("tolerated variants", () => {
  it("accepts a 200 (the docs' example) as well as a 201 from the submit", async () => {
    next = () => ({ status: 200, body: docsAction });
    const action = await client.runLiveResponse(MACHINE, {
      commands: [{ type: "RunScript", scriptName: "minidump.ps1" }],
      comment: "docs example",
    });
    expect(action.id).toBe(ACTION);
  });

  it("reads the docs' field names, unknown fields and unknown statuses", async () => {
    next = () => ({ status: 200, body: { ...docsAction, status: "Queued" } });
    const action = await client.getMachineAction(ACTION);
    expect(action.status).toBe("Queued");
    expect(action.lastUpdateDateTimeUtc).toBe("2021-02-04T15:36:46.2785014Z");
    expect(action).not.toHaveProperty("someFutureField");
  });

  it("reads a list without @odata.count and with object errors", async () => {
    const failed = {
      ...docsAction,
      status: "Failed",
      commands: [
        { ...docsAction.commands[0], commandStatus: "Failed", errors: [{ message: "Access denied" }] },
      ],
    };
    next = () => ({ status: 200, body: { "@odata.context": "x", value: [failed] } });
    const list = await client.listMachineActions();
    expect(list).toMatchObject({ count: undefined, complete: true });
    expect(list.items[0]?.commands[0]?.errors).toEqual(["Access denied"]);
  });

  it("does not follow an @odata.nextLink to another origin", async () => {
    next = () => ({
      status: 200,
      body: {
        value: [docsAction],
        "@odata.count": 2,
        "@odata.nextLink": "https://attacker.example/api/machineactions?$skip=1",
      },
    });
    const list = await client.listMachineActions();
    expect(list).toMatchObject({ count: 2, complete: false });
    expect(list.items).toHaveLength(1);
    expect(received).toHaveLength(1);
  });

  it("stops at $top even when the server links past it", async () => {
    next = () => ({
      status: 200,
      body: { value: [docsAction, docsAction], "@odata.nextLink": "/api/machineactions?$top=2&$skip=2" },
    });
    const list = await client.listMachineActions({ top: 1 });
    expect(list).toMatchObject({ complete: true });
    expect(list.items).toHaveLength(1);
    expect(received).toHaveLength(1);
  });

  it("follows a relative @odata.nextLink on its own origin", async () => {
    next = (req) =>
      req.url?.includes("skip")
        ? { status: 200, body: { value: [docsAction] } }
        : { status: 200, body: { value: [docsAction], "@odata.nextLink": "/api/machineactions?$skip=1" } };
    const list = await client.listMachineActions();
    expect(list).toMatchObject({ complete: true });
    expect(list.items).toHaveLength(2);
    expect(received.map((r) => r.url)).toEqual(["/api/machineactions", "/api/machineactions?$skip=1"]);
  });
});

describe("unusable answers", () => {
  it("names an error without the documented body HttpStatus<N>", async () => {
    next = () => ({ status: 418, body: "<html>teapot</html>" });
    const error = await rejectionOf(client.getMachine(MACHINE));
    expect(error).toBeInstanceOf(DefenderApiError);
    expect(error).toMatchObject({ status: 418, code: "HttpStatus418", requestId: undefined });
    expect(error.message).not.toContain("teapot");
  });

  it("reads Retry-After of a 429 given as an HTTP date", async () => {
    next = () => ({
      status: 429,
      body: { error: { code: "TooManyRequests", message: "slow down", target: "t-1" } },
      headers: { "retry-after": new Date(Date.now() + 30_000).toUTCString() },
    });
    const error = await rejectionOf(
      client.runLiveResponse(MACHINE, { commands: [{ type: "GetFile", path: "C:\\a" }], comment: "x" }),
    );
    expect(error).toMatchObject({ status: 429, code: "TooManyRequests", requestId: "t-1" });
    expect((error as DefenderApiError).retryAfterMs).toBeGreaterThan(20_000);
    expect(received).toHaveLength(1);
  });

  it("rejects a 2xx body that does not have the documented shape", async () => {
    next = () => ({ status: 200, body: { value: "https://x/y?sig=abc" } });
    const error = await rejectionOf(client.getMachineAction(ACTION));
    expect(error).toBeInstanceOf(DefenderResponseError);
    expect(error).toMatchObject({ reason: "shape", code: "INVALID_RESPONSE" });
    expect(error.message).not.toContain("sig=");
  });

  it("rejects a result link that is not a URL, without echoing it", async () => {
    next = () => ({ status: 200, body: { value: "not a url sig=abc" } });
    const error = await rejectionOf(client.getLiveResponseResultDownloadLink(ACTION, 1));
    expect(error).toMatchObject({ reason: "bad_link" });
    expect(error.message).not.toContain("sig=");
    expect(received[0]?.url).toBe(`/api/machineactions/${ACTION}/GetLiveResponseResultDownloadLink(index=1)`);
  });

  it("stops reading a response past maxResponseBytes", async () => {
    next = () => ({ status: 200, body: { value: [], padding: "x".repeat(100_000) } });
    const error = await rejectionOf(client.listLibraryFiles());
    expect(error).toMatchObject({ reason: "too_large", code: "INVALID_RESPONSE" });
  });
});
