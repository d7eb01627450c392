import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadResultBlob, downloadResultBlobToFile } from "../../src/defender/blobDownload.js";
import type { DefenderClient, LiveResponseCommand } from "../../src/defender/defenderClient.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
} from "../../src/defender/errors.js";
import { RunScriptResultSchema } from "../../src/defender/schemas.js";
import { ManualClock } from "../../src/simulator/index.js";
import {
  DEVICES,
  SCRIPT,
  capturingLogger,
  failureRecorder,
  startClientFixture,
  startStubServer,
  type ClientFixture,
  type StubServer,
} from "./clientFixture.js";

/**
 * Result downloads against the simulator's blob host, on a manual clock so actions finish and links
 * expire exactly when the test says. Only the expiry test moves the clock after links are minted,
 * and it runs last.
 */

const EVENT_LOGS = "C:\\Windows\\Temp\\IR\\EventLogs.zip";

let fx: ClientFixture;
let client: DefenderClient;
let clock: ManualClock;
let dir: string;
let redirector: StubServer;
let scriptLink: URL;
let fileLink: URL;
let fileActionId: string;
let scriptActionId: string;
const { messages, failure } = failureRecorder();

async function finishedAction(machineId: string, commands: LiveResponseCommand[]): Promise<string> {
  const action = await client.runLiveResponse(machineId, { commands, comment: `blob ${randomUUID()}` });
  clock.advanceSeconds(3_600);
  const done = await client.getMachineAction(action.id);
  expect(done.status).toBe("Succeeded");
  return action.id;
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  fx = await startClientFixture({ clock });
  client = fx.client();
  dir = await mkdtemp(join(tmpdir(), "defender-blob-test-"));
  redirector = await startStubServer((req, res) => {
    res.writeHead(302, { location: `${fx.t.sim.blobBase}${req.url ?? "/"}` });
    res.end();
  });
  // Both actions finish before either link is minted: moving the clock on would expire a link.
  scriptActionId = await finishedAction(DEVICES.finance, [{ type: "RunScript", scriptName: SCRIPT }]);
  fileActionId = await finishedAction(DEVICES.dc, [{ type: "GetFile", path: EVENT_LOGS }]);
  scriptLink = (await client.getLiveResponseResultDownloadLink(scriptActionId, 0)).url;
  fileLink = (await client.getLiveResponseResultDownloadLink(fileActionId, 0)).url;
});

afterAll(async () => {
  const token = await fx.tokenProvider.getToken();
  for (const message of messages) {
    expect(message).not.toContain(token);
    expect(message).not.toMatch(/sig=|se=|Bearer /);
  }
  expect(messages.length).toBeGreaterThanOrEqual(5);
  // No download ever carried a bearer token to the storage host.
  expect(fx.t.sim.stats().blobRequestsWithAuthorization).toBe(0);
  await redirector.close();
  await rm(dir, { recursive: true, force: true });
  await fx.close();
});

describe("downloadResultBlob", () => {
  it("downloads a RunScript transcript without a bearer token", async () => {
    const body = await downloadResultBlob(scriptLink, { maxBytes: 1024 * 1024, ca: fx.t.sim.caCertPem });
    const transcript = RunScriptResultSchema.parse(JSON.parse(body.toString("utf8")));
    expect(transcript).toMatchObject({ script_name: SCRIPT, exit_code: 0 });
    expect(transcript.script_output).toContain("fin-ws-0142");
    expect(fx.t.sim.stats().blobRequestsWithAuthorization).toBe(0);
  });

  it("stops past maxBytes", async () => {
    const error = await failure(
      downloadResultBlob(scriptLink, { maxBytes: 16, ca: fx.t.sim.caCertPem }),
      DefenderResponseError,
    );
    expect(error).toMatchObject({ reason: "too_large", endpoint: "downloadResultBlob" });
  });

  it("refuses an http: link", async () => {
    const plain = new URL(scriptLink);
    plain.protocol = "http:";
    const error = await failure(downloadResultBlob(plain, { maxBytes: 1024 }), InvalidInputError);
    expect(error.field).toBe("url");
    expect(error.message).toContain("https:");
  });

  it("does not follow a redirect", async () => {
    const viaRedirect = new URL(`${scriptLink.pathname}${scriptLink.search}`, redirector.origin);
    const before = fx.t.sim.stats().calls;
    const error = await failure(
      downloadResultBlob(viaRedirect, { maxBytes: 1024 * 1024, ca: redirector.caCertPem }),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 302, code: "UnexpectedRedirect" });
    expect(redirector.requests).toHaveLength(1);
    expect(redirector.requests[0]?.headers.authorization).toBeUndefined();
    expect(fx.t.sim.stats().calls).toEqual(before);
  });

  it("aborts with ABORTED", async () => {
    const error = await failure(
      downloadResultBlob(scriptLink, { maxBytes: 1024, ca: fx.t.sim.caCertPem, signal: AbortSignal.abort() }),
      DefenderNetworkError,
    );
    expect(error.code).toBe("ABORTED");
  });
});

describe("logging", () => {
  it("logs endpoint, status and duration; for a blob only host and path, never a token or the link's query", async () => {
    const { logger, lines } = capturingLogger();
    const logged = fx.client({ logger });
    const { url } = await logged.getLiveResponseResultDownloadLink(scriptActionId, 0);
    await downloadResultBlob(url, { maxBytes: 1024 * 1024, ca: fx.t.sim.caCertPem, logger });
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toContainEqual(
      expect.objectContaining({
        method: "GET",
        endpoint: "getLiveResponseResultDownloadLink",
        status: 200,
        durationMs: expect.any(Number),
      }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({
        endpoint: "downloadResultBlob",
        host: url.host,
        path: url.pathname,
        status: 200,
      }),
    );
    const token = await fx.tokenProvider.getToken();
    const text = lines.join("\n");
    expect(text).not.toContain(token);
    expect(text).not.toContain(url.search.slice(1));
    expect(text).not.toMatch(/sig=|[?&]se=|Bearer/);
  });
});

describe("downloadResultBlobToFile", () => {
  it("streams to disk and returns the size and SHA-256 of what it wrote", async () => {
    const dest = join(dir, "eventlogs.bin");
    const result = await downloadResultBlobToFile(fileLink, dest, {
      maxBytes: 64 * 1024 * 1024,
      ca: fx.t.sim.caCertPem,
    });
    const written = await readFile(dest);
    const served = fx.t.sim.engine.resultContent(fileActionId, 0);
    expect(served.kind).toBe("ok");
    expect(written.equals(served.kind === "ok" ? served.body : Buffer.alloc(0))).toBe(true);
    expect(result.bytes).toBe(written.length);
    expect(result.bytes).toBeGreaterThan(1000);
    expect(result.sha256).toBe(createHash("sha256").update(written).digest("hex"));
    expect((await stat(dest)).mode & 0o077).toBe(0);
    expect(await readdir(dir)).toEqual(["eventlogs.bin"]);
  });

  it("leaves nothing behind when the blob is over the cap", async () => {
    const sub = await mkdtemp(join(dir, "cap-"));
    const error = await failure(
      downloadResultBlobToFile(fileLink, join(sub, "big.bin"), { maxBytes: 1000, ca: fx.t.sim.caCertPem }),
      DefenderResponseError,
    );
    expect(error.reason).toBe("too_large");
    expect(await readdir(sub)).toEqual([]);
  });

  it("reports an expired link as LinkExpired, telling the caller to request a new one", async () => {
    const action = await finishedAction(DEVICES.appServer, [{ type: "RunScript", scriptName: SCRIPT }]);
    const { url, expiresAt } = await client.getLiveResponseResultDownloadLink(action, 0);
    expect(expiresAt).toBeInstanceOf(Date);
    clock.advance(expiresAt!.getTime() - clock.now() + 1_000);
    const sub = await mkdtemp(join(dir, "expired-"));
    const error = await failure(
      downloadResultBlobToFile(url, join(sub, "out.json"), { maxBytes: 1024 * 1024, ca: fx.t.sim.caCertPem }),
      DefenderApiError,
    );
    expect(error).toMatchObject({ status: 403, code: "LinkExpired", endpoint: "downloadResultBlob" });
    expect(error.message).toContain("getLiveResponseResultDownloadLink");
    expect(error.message).toContain(url.host);
    expect(await readdir(sub)).toEqual([]);

    const fresh = await client.getLiveResponseResultDownloadLink(action, 0);
    const body = await downloadResultBlob(fresh.url, { maxBytes: 1024 * 1024, ca: fx.t.sim.caCertPem });
    expect(body.length).toBeGreaterThan(0);
  });
});
