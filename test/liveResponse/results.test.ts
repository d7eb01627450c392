import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DefenderClient, type LiveResponseCommand } from "../../src/defender/defenderClient.js";
import type { MachineAction } from "../../src/defender/schemas.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import type { GetFileResultData, RunScriptResultData } from "../../src/liveResponse/types.js";
import { defaultScenario } from "../../src/simulator/index.js";
import { DEVICES, SCRIPT, quietLogger } from "../defender/clientFixture.js";
import { until } from "../helpers/until.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

let sf: ServiceFixture;
let service: LiveResponseService;

beforeAll(async () => {
  sf = await startServiceFixture();
  service = sf.service();
});
afterAll(async () => sf.close());
beforeEach(() => {
  sf.fx.t.sim.reset();
  sf.fx.t.sim.setFaults({});
});

const INVOICE_PATH = "C:\\Windows\\Temp\\invoice_2291.pdf.exe";

function scenarioFileBytes(machineId: string, path: string): Buffer {
  const device = defaultScenario().devices.find((d) => d.id === machineId);
  const file = device?.files.find((f) => f.path === path) as { contentBase64?: string } | undefined;
  if (file?.contentBase64 === undefined) throw new Error(`no file ${path} in the scenario`);
  return Buffer.from(file.contentBase64, "base64");
}

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

async function runToEnd(
  svc: LiveResponseService,
  machineId: string,
  commands: LiveResponseCommand[],
): Promise<MachineAction> {
  const [entry] = await svc.submit({ machineIds: [machineId], commands, comment: "results test" });
  if (entry?.action === undefined) throw new Error(`submit failed: ${String(entry?.error)}`);
  const [action] = await svc.waitForFinal([entry.action.id], { waitMs: 20_000 });
  return action!;
}

describe("commandResults", () => {
  it("fetches every command's result: PutFile has none, RunScript is parsed, GetFile is extracted and hashed", async () => {
    const action = await runToEnd(service, DEVICES.finance, [
      { type: "PutFile", fileName: "procdump64.exe" },
      { type: "RunScript", scriptName: SCRIPT },
      { type: "GetFile", path: INVOICE_PATH },
    ]);
    expect(action.status).toBe("Succeeded");
    const [put, script, file] = await service.commandResults(action);

    expect(put).toEqual({ type: "PutFile", index: 0, reason: "PutFile has no result to download" });

    const run = script as RunScriptResultData;
    expect(run.type).toBe("RunScript");
    expect(run.index).toBe(1);
    expect(run.exitCode).toBe(0);
    expect(run.output).toMatch(/^Transcript started, output file is /);
    expect(run.output).toContain("Process list for fin-ws-0142.contoso.com");
    // The transcript ends in NUL padding, which is removed.
    expect(run.output).not.toContain("\u0000");
    expect(run.output.endsWith("14 processes")).toBe(true);
    expect(run.errors).toBe("");
    expect(run.outputPath).toBe(join(sf.downloadDir, action.id, "command-1-output.txt"));
    expect(await readFile(run.outputPath, "utf8")).toBe(run.output);
    expect((await stat(run.outputPath)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(run.outputPath))).mode & 0o777).toBe(0o700);

    const got = file as GetFileResultData;
    const expected = scenarioFileBytes(DEVICES.finance, INVOICE_PATH);
    expect(got).toMatchObject({ type: "GetFile", index: 2, format: "zip", bytes: expected.length });
    expect(got.sha256).toBe(sha256(expected));
    expect(got.archiveSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(got.archiveSha256).not.toBe(got.sha256);
    expect(basename(got.savedPath)).toBe("invoice_2291.pdf.exe");
    expect(dirname(got.savedPath)).toBe(join(sf.downloadDir, action.id));
    expect(await readFile(got.savedPath)).toEqual(expected);
    expect((await stat(got.savedPath)).mode & 0o777).toBe(0o600);
    // The archive is gone once extracted; only the output and the file remain.
    expect((await readdir(dirname(got.savedPath))).sort()).toEqual([
      "command-1-output.txt",
      "invoice_2291.pdf.exe",
    ]);
    expect(sf.calls().getResultDownloadLink).toBe(2);
  });

  it("downloads a 3 MB output once; asking again costs no API call", async () => {
    const action = await runToEnd(service, DEVICES.hr, [{ type: "RunScript", scriptName: "Big-Output.ps1" }]);
    const [first] = (await service.commandResults(action)) as RunScriptResultData[];
    expect(first!.output.length).toBeGreaterThan(3_000_000);
    expect(first!.output).not.toContain("\u0000");
    expect(await readFile(first!.outputPath, "utf8")).toBe(first!.output);
    const before = sf.fx.t.sim.stats().calls;
    const [second] = (await service.commandResults(action)) as RunScriptResultData[];
    expect(second!.output).toBe(first!.output);
    expect(sf.fx.t.sim.stats().calls).toEqual(before);
    expect(before.getResultDownloadLink).toBe(1);
  });

  it("reports a non-zero exit code and the script's errors; the command still completed", async () => {
    const action = await runToEnd(service, DEVICES.dc, [
      { type: "RunScript", scriptName: "Exit-NonZero.ps1" },
    ]);
    expect(action.status).toBe("Succeeded");
    const [result] = (await service.commandResults(action)) as RunScriptResultData[];
    expect(result!.exitCode).toBe(3);
    expect(result!.output).toContain("Configuration file missing, nothing collected.");
    expect(result!.errors).toContain("Write-Error: Cannot find path 'C:\\Windows\\Temp\\IR\\collect.cfg'");
  });

  it("says why a GetFile failed on the device, without asking for a link", async () => {
    const action = await runToEnd(service, DEVICES.finance, [
      { type: "GetFile", path: "C:\\Windows\\Temp\\IR\\collector.log" },
    ]);
    expect(action.status).toBe("Failed");
    const [result] = await service.commandResults(action);
    expect(result).toMatchObject({
      type: "GetFile",
      reason: expect.stringMatching(/^failed with errors: .+/),
    });
    expect(sf.calls().getResultDownloadLink).toBe(0);
  });

  it("says a cancelled action's commands were not run", async () => {
    const [entry] = await service.submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: "x",
    });
    const { action } = await service.cancel(entry!.requestId, "changed my mind");
    expect(await service.commandResults(action)).toEqual([
      { type: "RunScript", index: 0, reason: "not run: the action was cancelled" },
    ]);
  });

  it("turns a failed download into a reason without the link, and tries again on the next call", async () => {
    const action = await runToEnd(service, DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    sf.fx.t.sim.setFaults({ errorRate: 1, errorStatus: 503, endpoints: ["getResultDownloadLink"] });
    const [failed] = await service.commandResults(action);
    expect(failed).toMatchObject({ type: "RunScript", index: 0, reason: expect.stringContaining("503") });
    expect(JSON.stringify(failed)).not.toMatch(/sig=|se=/);
    sf.fx.t.sim.setFaults({});
    const [retried] = (await service.commandResults(action)) as RunScriptResultData[];
    expect(retried!.exitCode).toBe(0);
    expect(retried!.output).toContain("Process list for hr-ws-0087.contoso.com");
  });
});

describe("a result link", () => {
  it("is asked for once: a download storage fails is tried again, and fetched again later, with the same link", async () => {
    const action = await runToEnd(service, DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    sf.fx.t.sim.setFaults({ blobErrorRate: 1 });
    const [failed] = await service.commandResults(action);
    expect(failed).toMatchObject({ index: 0, reason: expect.stringContaining("503") });
    // The first download and its one retry both failed on storage.
    expect(sf.fx.t.sim.stats().faultsInjected.errors).toBe(2);
    sf.fx.t.sim.setFaults({});
    const [fetched] = (await service.commandResults(action)) as RunScriptResultData[];
    expect(fetched!.output).toContain("Process list for hr-ws-0087.contoso.com");
    expect(sf.calls().getResultDownloadLink).toBe(1);
  });
});

describe("a result fetch shared by several callers", () => {
  it("goes on for the others when one caller stops waiting", async () => {
    const action = await runToEnd(service, DEVICES.hr, [{ type: "RunScript", scriptName: SCRIPT }]);
    // The link takes half a second to come: time to cancel the first caller mid-fetch.
    sf.fx.t.sim.setFaults({ latencyMs: 500 * TEST_TIME_SCALE, endpoints: ["getResultDownloadLink"] });
    const controller = new AbortController();
    const first = service.commandResults(action, { signal: controller.signal });
    const second = service.commandResults(action);
    await until(() => (sf.calls().getResultDownloadLink ?? 0) === 1);
    controller.abort();
    expect(await first).toEqual([
      { type: "RunScript", index: 0, reason: "the result is still being fetched", fetching: true },
    ]);
    const [shared] = (await second) as RunScriptResultData[];
    expect(shared!.exitCode).toBe(0);
    expect(shared!.output).toContain("Process list for hr-ws-0087.contoso.com");
    expect(sf.calls().getResultDownloadLink).toBe(1);
  });

  it("runs to the end when nobody waits for it any more, and the next caller gets it from the cache", async () => {
    const action = await runToEnd(service, DEVICES.finance, [
      { type: "RunScript", scriptName: SCRIPT },
      { type: "GetFile", path: INVOICE_PATH },
    ]);
    const gone = AbortSignal.abort();
    expect(await service.commandResults(action, { signal: gone })).toEqual([
      { type: "RunScript", index: 0, reason: "the result is still being fetched", fetching: true },
      { type: "GetFile", index: 1, reason: "the result is still being fetched", fetching: true },
    ]);
    // Both fetches go on, one after the other, with no caller waiting.
    await until(() => (sf.calls().getResultDownloadLink ?? 0) === 2);
    const [script, file] = await service.commandResults(action);
    expect((script as RunScriptResultData).exitCode).toBe(0);
    expect((file as GetFileResultData).sha256).toBe(sha256(scenarioFileBytes(DEVICES.finance, INVOICE_PATH)));
    expect(sf.calls().getResultDownloadLink).toBe(2);
  });
});

describe("an expired result link", () => {
  let fast: ServiceFixture;
  beforeAll(async () => {
    // At this scale a link's 30 minutes last 300 ms (plus rounding to the second).
    fast = await startServiceFixture({ timeScale: 6000 });
  });
  afterAll(async () => fast.close());

  it("is replaced by a new link once, and the download succeeds", async () => {
    /** Hands out each first link only once it has expired, as a slow consumer would use it. */
    class SlowClient extends DefenderClient {
      private delayed = false;
      override async getLiveResponseResultDownloadLink(
        ...args: Parameters<DefenderClient["getLiveResponseResultDownloadLink"]>
      ) {
        const link = await super.getLiveResponseResultDownloadLink(...args);
        if (!this.delayed && link.expiresAt !== undefined) {
          this.delayed = true;
          // `se` is rounded up to the second, like Azure's, so the link may outlive its scaled 300 ms.
          await sleep(link.expiresAt.getTime() - Date.now() + 50);
        }
        return link;
      }
    }
    const client = new SlowClient({
      apiBaseUrl: fast.fx.t.sim.apiBase,
      tokenProvider: fast.fx.tokenProvider,
      timeScale: 6000,
      ca: fast.fx.t.sim.caCertPem,
      logger: quietLogger,
    });
    try {
      const svc = fast.service({ client });
      const action = await runToEnd(svc, DEVICES.finance, [{ type: "GetFile", path: INVOICE_PATH }]);
      const [result] = (await svc.commandResults(action)) as GetFileResultData[];
      expect(result!.sha256).toBe(sha256(scenarioFileBytes(DEVICES.finance, INVOICE_PATH)));
      expect(fast.calls().getResultDownloadLink).toBe(2);
    } finally {
      await client.close();
    }
  });
});
