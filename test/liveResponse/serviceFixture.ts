import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LiveResponseService, type LiveResponseDeps } from "../../src/liveResponse/liveResponseService.js";
import type { SimulatorOptions } from "../../src/simulator/index.js";
import { quietLogger, startClientFixture, type ClientFixture } from "../defender/clientFixture.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";

/**
 * The live response service as the server builds it: a real DefenderClient with msal-node against a
 * simulator over HTTPS, result blobs trusted through the simulator's CA, a fresh download folder.
 */
export interface ServiceFixture {
  fx: ClientFixture;
  downloadDir: string;
  service(overrides?: Partial<LiveResponseDeps>): LiveResponseService;
  /** Calls per simulator endpoint since the last reset. */
  calls(): Record<string, number>;
  totalCalls(): number;
  close(): Promise<void>;
}

export async function startServiceFixture(options: SimulatorOptions = {}): Promise<ServiceFixture> {
  const timeScale = options.timeScale ?? TEST_TIME_SCALE;
  const fx = await startClientFixture({ timeScale, ...options });
  const downloadDir = await mkdtemp(join(tmpdir(), "lr-downloads-"));
  const client = fx.client();
  return {
    fx,
    downloadDir,
    service: (overrides = {}) =>
      new LiveResponseService({
        client,
        downloadDir,
        timeScale,
        blobCa: fx.t.sim.caCertPem,
        logger: quietLogger,
        // Held actions are read in the background only this rarely, so call counts stay exact.
        idlePollIntervalSeconds: 3600,
        ...overrides,
      }),
    calls: () => fx.t.sim.stats().calls,
    totalCalls: () => Object.values(fx.t.sim.stats().calls).reduce((a, b) => a + b, 0),
    async close() {
      await fx.close();
      await rm(downloadDir, { recursive: true, force: true });
    },
  };
}
