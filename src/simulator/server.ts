import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type Logger } from "../logger.js";
import { ActionEngine, DEFAULT_ENGINE_SETTINGS, OFFLINE_QUEUE_SECONDS } from "./actionEngine.js";
import { isDefenderAudience } from "./apiAudience.js";
import { createApiHandler } from "./apiRoutes.js";
import { BlobLinks, isBlobPath, serveBlob } from "./blobLinks.js";
import { handleControl, isControlPath } from "./controlRoutes.js";
import { defaultScenario } from "./defaultScenario.js";
import { isApiPath } from "./endpoints.js";
import { FaultInjector, type Faults, type FaultsInput } from "./faults.js";
import { apiError, writeJson } from "./httpUtil.js";
import { ApiLimits } from "./limits.js";
import type { Scenario } from "./scenario.js";
import { systemClock, type SimClock } from "./simClock.js";
import { StatsRecorder, type SimulatorStats } from "./stats.js";
import { createSimulatorTls } from "./tls.js";
import { createTokenService, type TokenService } from "./tokenService.js";

/**
 * One HTTPS server that plays the whole tenant: the token endpoint, the Defender API, the result blob
 * host and the simulator's own control routes. The API and token endpoint are named `localhost` and
 * the blob links `127.0.0.1`, two names for one server, so a client can be checked to send each
 * request only to the host its URL names.
 */

/** Classic: the limits of the 2021 pages; extended: the newest pages' 50 sessions and 2-hour queue (reference §8). */
export type SimulatorProfile = "classic" | "extended";

const PROFILES: Record<SimulatorProfile, { maxSessions: number; offlineQueueSeconds: number }> = {
  classic: { maxSessions: 25, offlineQueueSeconds: OFFLINE_QUEUE_SECONDS.classic },
  extended: { maxSessions: 50, offlineQueueSeconds: OFFLINE_QUEUE_SECONDS.extended },
};

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_PAGE_SIZE = 10_000;

export interface SimulatorOptions {
  scenario?: Scenario;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Where the CA certificate is written; default a fresh temporary directory, removed on close. */
  dataDir?: string;
  /** Every simulated duration is divided by this (windows, Retry-After, sessions, link expiry, faults); not token lifetimes. */
  timeScale?: number;
  profile?: SimulatorProfile;
  maxSessions?: number;
  offlineQueueSeconds?: number;
  runScriptTimeoutSeconds?: number;
  mergeIdenticalRequests?: boolean;
  unknownLibraryFile?: "reject" | "fail";
  /** Most items in one list response before an `@odata.nextLink` (default 10,000, the documented maximum). */
  pageSize?: number;
  clock?: SimClock;
  logger?: Logger;
}

export interface SimulatorConnectionInfo {
  apiBase: string;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string | undefined;
  caFile: string;
}

export interface RunningSimulator extends SimulatorConnectionInfo {
  blobBase: string;
  caCertPem: string;
  port: number;
  engine: ActionEngine;
  tokenService: TokenService;
  stats(): SimulatorStats;
  /** The access tokens the token endpoint issued since start (see TokenService.issuedTokens). */
  issuedTokens(): readonly string[];
  /** Replaces the faults in force (`{}` clears them); throws FaultsError naming a bad field. */
  setFaults(faults: FaultsInput): Faults;
  /** Forgets every action, window, count and fault. */
  reset(): void;
  close(): Promise<void>;
  connectionInfo(): SimulatorConnectionInfo;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const timeScale = options.timeScale ?? 1;
  if (!Number.isFinite(timeScale) || timeScale <= 0) {
    throw new RangeError(`timeScale must be a positive number, got ${timeScale}`);
  }
  const scenario = options.scenario ?? defaultScenario();
  const app = scenario.apps[0];
  if (!app) throw new RangeError("a scenario needs at least one app registration");
  const host = options.host ?? "127.0.0.1";
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: "warn", name: "mde-simulator" });
  const profile = PROFILES[options.profile ?? "classic"];
  const sessionCap = options.maxSessions ?? profile.maxSessions;

  const ownDir = options.dataDir === undefined;
  const dir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "mde-simulator-")));
  const tls = await createSimulatorTls({ hostnames: [host], dir });

  let origins = { api: "", blob: "" };
  const faults = new FaultInjector(clock, timeScale);
  const engine = new ActionEngine(
    scenario,
    {
      timeScale,
      offlineQueueSeconds: options.offlineQueueSeconds ?? profile.offlineQueueSeconds,
      runScriptTimeoutSeconds:
        options.runScriptTimeoutSeconds ?? DEFAULT_ENGINE_SETTINGS.runScriptTimeoutSeconds,
      mergeIdenticalRequests:
        options.mergeIdenticalRequests ?? DEFAULT_ENGINE_SETTINGS.mergeIdenticalRequests,
      mergeWindowSeconds: DEFAULT_ENGINE_SETTINGS.mergeWindowSeconds,
      unknownLibraryFile: options.unknownLibraryFile ?? DEFAULT_ENGINE_SETTINGS.unknownLibraryFile,
    },
    clock,
  );
  const tokenService = createTokenService({
    tenantId: scenario.tenant.id,
    apps: scenario.apps,
    users: scenario.users,
    isDefenderResource: (resource) => isDefenderAudience(resource, [origins.api]),
    authorityHost: () => origins.api,
    isDown: () => faults.current().tokenEndpointDown,
    timeScale,
  });
  let tokenBaseline = { issued: 0, refused: 0 };
  const stats = new StatsRecorder(clock, timeScale, {
    sessions: () => ({ active: engine.activeSessionCount(), max: engine.maxActiveSessions() }),
    tokens: () => {
      const now = tokenService.counts();
      return { issued: now.issued - tokenBaseline.issued, refused: now.refused - tokenBaseline.refused };
    },
  });
  const limits = new ApiLimits({
    timeScale,
    clock,
    sessionCap,
    activeSessions: () => engine.activeSessionCount(),
  });
  const blobLinks = new BlobLinks({ origin: () => origins.blob, timeScale, clock });
  const api = createApiHandler({
    engine,
    tokenService,
    limits,
    faults,
    stats,
    blobLinks,
    logger,
    maxBodyBytes: MAX_BODY_BYTES,
    pageSize: options.pageSize ?? MAX_PAGE_SIZE,
  });

  const reset = (): void => {
    engine.reset();
    limits.reset();
    stats.reset();
    faults.clear();
    tokenBaseline = tokenService.counts();
  };

  const dispatch = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // Prefixing keeps a path like "//x" a path instead of a host.
    const url = new URL(`https://simulator${req.url ?? "/"}`);
    if (isControlPath(url.pathname)) {
      return handleControl(req, res, url, {
        stats: () => stats.snapshot(),
        faults: () => faults.current(),
        setFaults: (input) => faults.set(input),
        reset,
        maxBodyBytes: MAX_BODY_BYTES,
      });
    }
    if (isBlobPath(url.pathname)) {
      const status = serveBlob(req, res, url, {
        links: blobLinks,
        content: (actionId, index) => engine.resultContent(actionId, index),
        onAuthorizationHeader: () => stats.blobWithAuthorization(),
        failNow: () => {
          const fails = faults.blobFails();
          if (fails) stats.faultInjected("errors");
          return fails;
        },
      });
      logger.debug({ method: req.method, endpoint: "blob", status }, "simulator blob request");
      return;
    }
    if (isApiPath(url.pathname)) return api(req, res, url);
    if (await tokenService.handle(req, res, url)) return;
    writeJson(res, apiError(404, "NotFound", "The requested resource was not found"));
  };

  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    dispatch(req, res).catch((err: unknown) => {
      logger.error({ err: (err as Error).message, method: req.method }, "simulator request failed");
      if (res.headersSent) res.destroy();
      else writeJson(res, apiError(500, "InternalServerError", ""));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  origins = originsFor(host, port);

  const connectionInfo = (): SimulatorConnectionInfo => ({
    apiBase: origins.api,
    authorityHost: origins.api,
    tenantId: scenario.tenant.id,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    caFile: tls.caFile,
  });

  return {
    ...connectionInfo(),
    blobBase: origins.blob,
    caCertPem: tls.caCertPem,
    port,
    engine,
    tokenService,
    stats: () => stats.snapshot(),
    issuedTokens: () => tokenService.issuedTokens(),
    setFaults: (input) => faults.set(input),
    reset,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    connectionInfo,
  };
}

/** Loopback and wildcard binds answer on both loopback names; any other bind is reached by its own name. */
function originsFor(host: string, port: number): { api: string; blob: string } {
  if (["127.0.0.1", "localhost", "0.0.0.0", "::"].includes(host)) {
    return { api: `https://localhost:${port}`, blob: `https://127.0.0.1:${port}` };
  }
  const named = host.includes(":") ? `https://[${host}]:${port}` : `https://${host}:${port}`;
  return { api: named, blob: named };
}
