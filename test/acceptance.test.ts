import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DefenderApiError,
  DefenderClient,
  MsalTokenProvider,
  RunScriptResultSchema,
  downloadResultBlob,
  isFinalActionStatus,
  startSimulator,
  submitOutcome,
  type MachineAction,
  type RunningSimulator,
} from "../src/index.js";
import { generatedDeviceId, scenarioWith } from "./helpers/simulatorHarness.js";

type ClientOptions = ConstructorParameters<typeof DefenderClient>[0];

function clientOf(
  sim: RunningSimulator,
  extra: Pick<ClientOptions, "limits" | "retry"> = {},
): DefenderClient {
  const tokenProvider = new MsalTokenProvider({
    tenantId: sim.tenantId,
    clientId: sim.clientId,
    credential: { kind: "secret", clientSecret: sim.clientSecret ?? "" },
    authorityHost: sim.authorityHost,
    scope: "https://api.securitycenter.microsoft.com/.default",
    ca: sim.caCertPem,
  });
  return new DefenderClient({ apiBaseUrl: sim.apiBase, tokenProvider, ca: sim.caCertPem, ...extra });
}

// The foundation's promise end to end, through the package's public surface only: an in-process
// simulator, real msal-node against its token endpoint, the typed client over loopback HTTPS.
const FINANCE = "9d663375e3e46799a6657b0c0c74b873c9fcd069";

describe("the foundation, end to end through the public API", () => {
  let sim: RunningSimulator;
  let client: DefenderClient;

  beforeAll(async () => {
    sim = await startSimulator({ timeScale: 600 });
    client = clientOf(sim);
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });

  it("submits the reference's example shape, follows it to Succeeded and reads every command's result", async () => {
    const submitted = await client.runLiveResponse(FINANCE, {
      commands: [
        { type: "RunScript", scriptName: "Get-RecentFiles.ps1", args: "-Days 7" },
        { type: "GetFile", path: "C:\\Windows\\Temp\\invoice_2291.pdf.exe" },
      ],
      comment: "Testing Live Response API",
    });
    expect(submitted).toMatchObject({
      type: "LiveResponse",
      status: "Pending",
      machineId: FINANCE,
      requestorComment: "Testing Live Response API",
      requestSource: "PublicApi",
    });
    expect(submitted.commands.map((c) => [c.index, c.commandStatus])).toEqual([
      [0, "Created"],
      [1, "Created"],
    ]);

    let action: MachineAction = submitted;
    while (!isFinalActionStatus(action.status)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      action = await client.getMachineAction(submitted.id);
    }
    expect(action.status).toBe("Succeeded");

    const scriptLink = await client.getLiveResponseResultDownloadLink(action.id, 0);
    const transcript = RunScriptResultSchema.parse(
      JSON.parse(
        (await downloadResultBlob(scriptLink.url, { maxBytes: 1 << 20, ca: sim.caCertPem })).toString(),
      ),
    );
    expect(transcript).toMatchObject({ script_name: "Get-RecentFiles.ps1", exit_code: 0 });
    expect(transcript.script_output).toContain("Transcript started");

    const fileLink = await client.getLiveResponseResultDownloadLink(action.id, 1);
    const zip = await downloadResultBlob(fileLink.url, { maxBytes: 1 << 24, ca: sim.caCertPem });
    expect(zip.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    expect(sim.stats().blobRequestsWithAuthorization).toBe(0);
  });

  it("answers the eleventh quick submit with 429 and Retry-After, and the stats show what it saw", async () => {
    // Real time here: the window must not slide by while the eleven go out.
    const realTime = await startSimulator({ scenario: scenarioWith({ devices: 11 }) });
    // Its submit limit is set above the API's, or the client itself would hold the eleventh a minute;
    // and it waits out no Retry-After over a second, so the eleventh's 429 comes back to the caller.
    const burstClient = clientOf(realTime, {
      limits: { submitPerMinute: 11 },
      retry: { maxRetryAfterMs: 1_000 },
    });
    const results = [];
    for (let i = 0; i < 11; i++) {
      results.push(
        await burstClient
          .runLiveResponse(generatedDeviceId(i), {
            commands: [{ type: "RunScript", scriptName: "Get-ProcessList.ps1" }],
            comment: `burst ${i}`,
          })
          .catch((e: unknown) => e),
      );
    }
    expect(results.slice(0, 10).every((r) => !(r instanceof Error))).toBe(true);
    const eleventh = results[10];
    expect(eleventh).toBeInstanceOf(DefenderApiError);
    expect(eleventh).toMatchObject({ status: 429, code: "TooManyRequests" });
    expect((eleventh as DefenderApiError).retryAfterMs).toBeGreaterThan(0);
    expect(submitOutcome(eleventh)).toBe("not_executed");

    const stats = realTime.stats();
    expect(stats.calls.runliveresponse).toBe(11);
    expect(stats.throttled.runliveresponse).toBe(1);
    expect(stats.maxSubmitsInAnyWindow).toBe(10);
    expect(stats.duplicateSubmissions).toBe(0);
    await burstClient.close();
    await realTime.close();
  });
});
