import { createTokenProvider } from "../auth/createTokenProvider.js";
import type { Settings } from "../config/settings.js";
import { DefenderClient } from "../defender/defenderClient.js";
import { LiveResponseService } from "../liveResponse/liveResponseService.js";
import type { Logger } from "../logger.js";
import type { ToolDeps } from "../tools/toolDeps.js";
import { openApiTarget } from "./apiTarget.js";

export interface Runtime {
  deps: ToolDeps;
  /** True when the tools act on the embedded simulator rather than a tenant. */
  simulated: boolean;
  /** Stops following actions, closes connections and the embedded simulator. */
  close(): Promise<void>;
}

/**
 * Builds what the tools run on from the settings: the API target (a tenant, or the embedded
 * simulator), its token provider, the API client and the live response domain.
 */
export async function createRuntime(settings: Settings, { logger }: { logger: Logger }): Promise<Runtime> {
  const target = await openApiTarget(settings, logger);
  try {
    const tokenProvider = await createTokenProvider(target.tokenSettings, { logger });
    const client = new DefenderClient({
      apiBaseUrl: target.endpoints.apiBaseUrl,
      tokenProvider,
      timeScale: settings.MDE_TIME_SCALE,
      ca: target.ca,
      limits: {
        submitPerMinute: settings.MDE_SUBMITS_PER_MINUTE,
        readsPerMinute: settings.MDE_READS_PER_MINUTE,
        readsPerHour: settings.MDE_READS_PER_HOUR,
      },
      logger,
    });
    const liveResponse = new LiveResponseService({
      client,
      downloadDir: settings.MDE_DOWNLOAD_DIR,
      timeScale: settings.MDE_TIME_SCALE,
      pollIntervalSeconds: settings.MDE_POLL_INTERVAL_SECONDS,
      maxSessions: settings.MDE_MAX_SESSIONS,
      blobCa: target.ca,
      logger,
    });
    // A restart must neither forget this server's actions still in flight nor count them twice.
    const { adopted } = await liveResponse.reconcile();
    if (adopted > 0)
      logger.info({ adopted }, "took back the sessions of this server's actions still in flight");
    logger.info(
      {
        apiBase: target.endpoints.apiBaseUrl,
        credential: tokenProvider.description,
        downloadDir: settings.MDE_DOWNLOAD_DIR,
      },
      "live response runtime ready",
    );
    return {
      deps: {
        liveResponse,
        client,
        limits: {
          defaultWaitSeconds: settings.MDE_DEFAULT_WAIT_SECONDS,
          maxOutputChars: settings.MDE_MAX_OUTPUT_CHARS,
          maxDevicesPerCall: settings.MDE_MAX_DEVICES_PER_CALL,
        },
        logger,
      },
      simulated: target.simulated,
      close: async () => {
        // Requests still queued here are withdrawn: nothing is submitted once the server stops.
        liveResponse.close();
        await client.close();
        await target.close();
      },
    };
  } catch (err) {
    await target.close();
    throw err;
  }
}
