import type { Settings } from "../config/settings.js";
import type { CoordinationRedis } from "../coordination/coordinationRedis.js";
import { createLogger, type Logger } from "../logger.js";
import { createRuntime, type Runtime } from "../server/runtime.js";
import { version } from "../version.js";
import { httpConfigFrom } from "./httpConfig.js";
import { startHttpServer, type RunningHttpServer } from "./httpServer.js";
import { ApiCallMetrics } from "./metrics.js";
import { defenderTokenCheck, type ReadinessCheck } from "./readiness.js";

/** Redis answers: without it nothing that needs a shared grant is sent (REDIS_URL is never shown). */
function redisCheck(redis: CoordinationRedis): ReadinessCheck {
  return {
    name: "redis",
    check: async () => {
      const health = await redis.health();
      if (!health.available) throw new Error(`Redis is unreachable (${health.reason})`);
    },
  };
}

export interface HttpService {
  server: RunningHttpServer;
  runtime: Runtime;
  /** Closes every session, then the runtime. */
  close(): Promise<void>;
}

export interface HttpServiceOptions {
  logger: Logger;
  /** More conditions for /readyz (e.g. the coordination store reachable). */
  readiness?: readonly ReadinessCheck[];
  /** An extra CA (PEM) for the OAuth token issuer's HTTPS. */
  issuerCa?: string;
}

/**
 * The HTTP transport on a runtime built from the settings. The HTTP settings are checked before
 * anything starts: an unsafe bind is refused with a ConfigError (the CLI's exit 2).
 */
export async function startHttpService(
  settings: Settings,
  options: HttpServiceOptions,
): Promise<HttpService> {
  const config = httpConfigFrom(settings);
  const apiCalls = new ApiCallMetrics();
  const runtime = await createRuntime(settings, { logger: options.logger, onApiCall: apiCalls.record });
  try {
    const server = await startHttpServer({
      config,
      deps: runtime.deps,
      serverOptions: {
        timeScale: settings.MDE_TIME_SCALE,
        pollIntervalSeconds: settings.MDE_POLL_INTERVAL_SECONDS,
      },
      readiness: [
        defenderTokenCheck(runtime.tokenProvider),
        ...(runtime.coordination ? [redisCheck(runtime.coordination)] : []),
        ...(options.readiness ?? []),
      ],
      logger: options.logger,
      ...(options.issuerCa === undefined ? {} : { issuerCa: options.issuerCa }),
      review: runtime.review,
    });
    apiCalls.registerIn(server.metrics.registry);
    return {
      server,
      runtime,
      close: async () => {
        await server.close();
        await runtime.close();
      },
    };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

/**
 * `mde-live-response-mcp serve --transport http`. Resolves after SIGINT or SIGTERM, once every
 * session is closed and the runtime stopped; actions already started keep running on their devices.
 */
export async function runHttpServer(settings: Settings): Promise<void> {
  const logger = createLogger({ level: settings.LOG_LEVEL });
  const service = await startHttpService(settings, { logger });
  try {
    logger.info(
      { version, transport: "http", simulated: service.runtime.simulated, url: service.server.url },
      "MCP server ready",
    );
    logger.info({ reason: await stopSignal() }, "shutting down");
  } finally {
    await service.close();
  }
  logger.info("stopped");
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
