/**
 * Benchmark: a batch of N devices × one RunScript submitted at once, through this client's limiters
 * versus a naive client (no limiter, retry after each 429, as the public tools do), against the
 * simulator on a scaled clock. Figures are ratios measured in the same run:
 *   makespan / lower bound — the lower bound is what the API's 10-per-60 s window imposes on N submits;
 *   429s received — the goal is 0.
 */
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { DefenderClient, MsalTokenProvider } from "../src/index.js";
import { createLogger } from "../src/logger.js";
import {
  defaultScenario,
  parseScenario,
  startSimulator,
  type RunningSimulator,
} from "../src/simulator/index.js";

export interface BatchSubmitFigures {
  client: string;
  devices: number;
  makespanSeconds: number;
  lowerBoundSeconds: number;
  ratio: number;
  throttled: number;
  maxSubmitsInAnyWindow: number;
  duplicates: number;
}

const SUBMITS_PER_WINDOW = 10;
const WINDOW_SECONDS = 60;

function scenarioWithDevices(count: number) {
  const base = defaultScenario();
  const devices = Array.from({ length: count }, (_, i) => ({
    id: `eeee${i.toString(16).padStart(36, "0")}`,
    computerDnsName: `bench-${String(i).padStart(4, "0")}.contoso.com`,
    osPlatform: "Windows11",
  }));
  return parseScenario({ ...base, devices: [...base.devices, ...devices] });
}

function clientFor(sim: RunningSimulator, timeScale: number) {
  const tokenProvider = new MsalTokenProvider({
    tenantId: sim.tenantId,
    clientId: sim.clientId,
    credential: { kind: "secret", clientSecret: sim.clientSecret ?? "" },
    authorityHost: sim.authorityHost,
    scope: "https://api.securitycenter.microsoft.com/.default",
    ca: sim.caCertPem,
  });
  const client = new DefenderClient({
    apiBaseUrl: sim.apiBase,
    tokenProvider,
    ca: sim.caCertPem,
    timeScale,
    logger: createLogger({ level: "error" }),
  });
  return { client, tokenProvider };
}

/** The public tools' way: POST, and on 429 sleep for Retry-After and send again; no limiter, no gate. */
async function naiveSubmit(
  sim: RunningSimulator,
  dispatcher: Agent,
  token: string,
  machineId: string,
  comment: string,
) {
  const body = JSON.stringify({
    Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: "Get-ProcessList.ps1" }] }],
    Comment: comment,
  });
  for (;;) {
    const res = await request(`${sim.apiBase}/api/machines/${machineId}/runliveresponse`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
      dispatcher,
    });
    await res.body.dump();
    if (res.statusCode !== 429) return;
    const seconds = Number(res.headers["retry-after"] ?? 60);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }
}

export async function benchBatchSubmit(options: {
  devices: number;
  timeScale: number;
  naive: boolean;
}): Promise<BatchSubmitFigures> {
  const sim = await startSimulator({
    timeScale: options.timeScale,
    scenario: scenarioWithDevices(options.devices),
  });
  const { client, tokenProvider } = clientFor(sim, options.timeScale);
  const dispatcher = new Agent({ connect: { ca: sim.caCertPem } });
  try {
    await client.listLibraryFiles(); // token and connection warm, outside the measurement
    const token = await tokenProvider.getToken();
    sim.reset();
    const ids = Array.from({ length: options.devices }, (_, i) => `eeee${i.toString(16).padStart(36, "0")}`);
    const started = performance.now();
    await Promise.all(
      ids.map((id, i) =>
        options.naive
          ? naiveSubmit(sim, dispatcher, token, id, `bench naive ${i}`)
          : client.runLiveResponse(id, {
              commands: [{ type: "RunScript", scriptName: "Get-ProcessList.ps1" }],
              comment: `bench limited ${i}`,
            }),
      ),
    );
    const makespanSeconds = (performance.now() - started) / 1000;
    const lowerBoundSeconds =
      (Math.floor((options.devices - 1) / SUBMITS_PER_WINDOW) * WINDOW_SECONDS) / options.timeScale;
    const stats = sim.stats();
    return {
      client: options.naive ? "naive (retry on 429)" : "mde-live-response-mcp",
      devices: options.devices,
      makespanSeconds,
      lowerBoundSeconds,
      ratio: lowerBoundSeconds > 0 ? makespanSeconds / lowerBoundSeconds : Number.NaN,
      throttled: stats.throttled.runliveresponse ?? 0,
      maxSubmitsInAnyWindow: stats.maxSubmitsInAnyWindow,
      duplicates: stats.duplicateSubmissions,
    };
  } finally {
    await dispatcher.close();
    await client.close();
    await sim.close();
  }
}
