/**
 * What every benchmark runs on: the simulator with as many extra devices as a batch needs, and the
 * product's parts (token provider, DefenderClient, LiveResponseService) built on it the way the
 * runtime builds them from settings, so a benchmark measures the code the server runs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLOUDS } from "../src/auth/clouds.js";
import { createTokenProvider } from "../src/auth/createTokenProvider.js";
import type { TokenProvider } from "../src/auth/tokenProvider.js";
import { SettingsSchema, type Settings } from "../src/config/settings.js";
import { DefenderClient } from "../src/defender/defenderClient.js";
import { LiveResponseService } from "../src/liveResponse/index.js";
import { createLogger } from "../src/logger.js";
import { DEFAULT_ENGINE_SETTINGS, OFFLINE_QUEUE_SECONDS } from "../src/simulator/actionEngine.js";
import { planAction } from "../src/simulator/actionPlan.js";
import {
  defaultScenario,
  parseScenario,
  startSimulator,
  type RunningSimulator,
  type Scenario,
} from "../src/simulator/index.js";
import { libraryRecordFromScenario } from "../src/simulator/libraryFileEntity.js";
import type { ToolDeps } from "../src/tools/toolDeps.js";

export const BENCH_SCRIPT = "Get-ProcessList.ps1";

/** Warnings from the product would interleave with the tables; errors still show. */
export const benchLogger = createLogger({ level: "error", name: "bench" });

export function benchDeviceIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `eeee${i.toString(16).padStart(36, "0")}`);
}

/** The Contoso demo tenant plus `count` online Windows 11 devices that run the bench script. */
export function scenarioWithDevices(count: number): Scenario {
  const base = defaultScenario();
  const devices = benchDeviceIds(count).map((id, i) => ({
    id,
    computerDnsName: `bench-${String(i).padStart(4, "0")}.contoso.com`,
    osPlatform: "Windows11",
  }));
  return parseScenario({ ...base, devices: [...base.devices, ...devices] });
}

/**
 * Real-world seconds from submit to final of one RunScript of `scriptName` on an online device, as the
 * simulator plans it (device pickup delay plus the script's run time on that platform); the longest
 * of `machineIds`.
 */
export function scriptRunSeconds(scenario: Scenario, machineIds: string[], scriptName: string): number {
  return Math.max(...machineIds.map((id) => oneScriptRunSeconds(scenario, id, scriptName)));
}

function oneScriptRunSeconds(scenario: Scenario, machineId: string, scriptName: string): number {
  const device = scenario.devices.find((d) => d.id === machineId);
  if (!device) throw new RangeError(`no device ${machineId} in the scenario`);
  const script = scenario.library.find((f) => f.fileName === scriptName);
  const plan = planAction({
    createdMs: 0,
    device,
    onlineAtMs: 0,
    commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: scriptName }] }],
    library: (name) => (script && name === scriptName ? libraryRecordFromScenario(script, 0) : undefined),
    unsignedScriptExecution: scenario.tenant.unsignedScriptExecution,
    settings: {
      timeScale: 1,
      runScriptTimeoutSeconds: DEFAULT_ENGINE_SETTINGS.runScriptTimeoutSeconds,
      offlineQueueSeconds: OFFLINE_QUEUE_SECONDS.classic,
    },
  });
  return plan.final.atMs / 1000;
}

/** Every setting at its default except the clock, the download folder and the log level. */
export function benchSettings(timeScale: number, downloadDir: string): Settings {
  return SettingsSchema.parse({
    MDE_TIME_SCALE: timeScale,
    MDE_DOWNLOAD_DIR: downloadDir,
    LOG_LEVEL: "error",
  });
}

export interface BenchTarget {
  sim: RunningSimulator;
  settings: Settings;
  tokenProvider: TokenProvider;
  client: DefenderClient;
  service: LiveResponseService;
  /** What the MCP tools run on, as the runtime hands it to createMcpServer. */
  deps: ToolDeps;
  close(): Promise<void>;
}

/** A simulator and the product on it, the service reconciled as at server start. */
export async function openBenchTarget(options: {
  timeScale: number;
  scenario?: Scenario;
}): Promise<BenchTarget> {
  const { timeScale } = options;
  const sim = await startSimulator({
    timeScale,
    logger: benchLogger,
    ...(options.scenario ? { scenario: options.scenario } : {}),
  });
  const downloadDir = await mkdtemp(join(tmpdir(), "mde-bench-downloads-"));
  const settings = benchSettings(timeScale, downloadDir);
  const tokenProvider = await createTokenProvider(
    {
      tenantId: sim.tenantId,
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      authorityHost: sim.authorityHost,
      scope: CLOUDS.commercial.scope,
      ca: sim.caCertPem,
    },
    { logger: benchLogger },
  );
  const client = new DefenderClient({
    apiBaseUrl: sim.apiBase,
    tokenProvider,
    timeScale: settings.MDE_TIME_SCALE,
    ca: sim.caCertPem,
    limits: {
      submitPerMinute: settings.MDE_SUBMITS_PER_MINUTE,
      readsPerMinute: settings.MDE_READS_PER_MINUTE,
      readsPerHour: settings.MDE_READS_PER_HOUR,
    },
    logger: benchLogger,
  });
  const service = new LiveResponseService({
    client,
    downloadDir: settings.MDE_DOWNLOAD_DIR,
    timeScale: settings.MDE_TIME_SCALE,
    pollIntervalSeconds: settings.MDE_POLL_INTERVAL_SECONDS,
    maxSessions: settings.MDE_MAX_SESSIONS,
    blobCa: sim.caCertPem,
    logger: benchLogger,
  });
  await service.reconcile();
  return {
    sim,
    settings,
    tokenProvider,
    client,
    service,
    deps: {
      liveResponse: service,
      client,
      limits: {
        defaultWaitSeconds: settings.MDE_DEFAULT_WAIT_SECONDS,
        maxOutputChars: settings.MDE_MAX_OUTPUT_CHARS,
        maxDevicesPerCall: settings.MDE_MAX_DEVICES_PER_CALL,
      },
      logger: benchLogger,
    },
    async close() {
      service.close();
      await client.close();
      await sim.close();
      await rm(downloadDir, { recursive: true, force: true });
    },
  };
}
