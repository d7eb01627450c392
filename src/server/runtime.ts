import { createTokenProvider } from "../auth/createTokenProvider.js";
import type { TokenProvider } from "../auth/tokenProvider.js";
import type { Settings } from "../config/settings.js";
import { CoordinationRedis } from "../coordination/coordinationRedis.js";
import { RedisLocks } from "../coordination/redisLocks.js";
import { RedisPolling } from "../coordination/redisPolling.js";
import { RedisRequestRegistry } from "../coordination/redisRequestRegistry.js";
import { RedisSemaphore } from "../coordination/redisSemaphore.js";
import { DefenderClient } from "../defender/defenderClient.js";
import { DEFAULT_TIMEOUTS, type ApiCallObserver } from "../defender/httpTransport.js";
import { ApiLimiters } from "../defender/limits/apiLimiters.js";
import {
  DEFAULT_IDLE_POLL_INTERVAL_SECONDS,
  LiveResponseService,
} from "../liveResponse/liveResponseService.js";
import type { Logger } from "../logger.js";
import { PolicyStore } from "../policy/policyStore.js";
import { openApprovalStore } from "../review/openApprovalStore.js";
import type { ReviewConsole } from "../review/console/reviewConsole.js";
import { createReviewConsole, reviewConsoleWanted, reviewStoreFile } from "../review/console/reviewSetup.js";
import { toolAllowed } from "../policy/toolAccess.js";
import { auditSubmitted, auditUnsubmitted, recordFinalStatuses } from "../safety/auditOutcome.js";
import { AuditTrail } from "../safety/auditTrail.js";
import { version } from "../version.js";
import { TOOLS } from "../tools/registry.js";
import type { ToolDeps } from "../tools/toolDeps.js";
import { openApiTarget, type ApiTarget } from "./apiTarget.js";
import { SERVER_NAME } from "./createMcpServer.js";

export interface Runtime {
  deps: ToolDeps;
  /** The app's credential to Defender, for readiness checks (never handed to a tool or a client). */
  tokenProvider: TokenProvider;
  /** The Redis every replica shares (REDIS_URL), for readiness checks; undefined when unset. */
  coordination: CoordinationRedis | undefined;
  /** True when the tools act on the embedded simulator rather than a tenant. */
  simulated: boolean;
  /** The review console (over HTTP at /review; over stdio with MDE_REVIEW_PORT); undefined otherwise. */
  review: ReviewConsole | undefined;
  /** Stops following actions, closes connections and the embedded simulator. */
  close(): Promise<void>;
}

/**
 * Builds what the tools run on from the settings: the policy (MDE_POLICY_FILE, reloaded when it
 * changes), the API target (a tenant, or the embedded simulator), its token provider, the API client,
 * the live response domain, and the audit log (MDE_AUDIT_LOG). A policy file that cannot be loaded
 * stops the start: there is no previous policy to fall back on.
 */
export async function createRuntime(
  settings: Settings,
  { logger, onApiCall }: { logger: Logger; onApiCall?: ApiCallObserver },
): Promise<Runtime> {
  const policy = await PolicyStore.open({ file: settings.MDE_POLICY_FILE, logger });
  const current = policy.current();
  logger.info(
    {
      policyFile: settings.MDE_POLICY_FILE ?? null,
      sha256: policy.sha256 ?? null,
      readOnly: current.read_only,
      hiddenTools: TOOLS.filter((tool) => !toolAllowed(current, tool)).map((tool) => tool.name),
      approval: typeof current.approval === "string" ? current.approval : "by rule",
    },
    settings.MDE_POLICY_FILE === undefined
      ? "no policy file (MDE_POLICY_FILE): every tool, script, path and device is allowed, and nothing needs approval"
      : "policy loaded",
  );
  let target: ApiTarget;
  try {
    target = await openApiTarget(settings, logger);
  } catch (err) {
    await policy.close();
    throw err;
  }
  const audit = new AuditTrail({
    path: settings.MDE_AUDIT_LOG,
    // The configured credentials: a record that held one would be refused, never written.
    secrets: [target.tokenSettings.clientSecret, settings.AZURE_CLIENT_CERTIFICATE_PASSWORD],
    logger,
  });
  if (!audit.enabled) {
    logger.warn(
      "no audit log (MDE_AUDIT_LOG is not set): requests, decisions, approvals and submits are not recorded",
    );
  }
  // With REDIS_URL, the limits hold across every replica: the API budgets, the session cap, the devices.
  const coordination =
    settings.REDIS_URL === undefined ? undefined : new CoordinationRedis({ url: settings.REDIS_URL, logger });
  const limiters = new ApiLimiters({
    timeScale: settings.MDE_TIME_SCALE,
    logger,
    limits: {
      submitPerMinute: settings.MDE_SUBMITS_PER_MINUTE,
      readsPerMinute: settings.MDE_READS_PER_MINUTE,
      readsPerHour: settings.MDE_READS_PER_HOUR,
    },
    shared: coordination && {
      redis: coordination,
      maxCallMs: DEFAULT_TIMEOUTS.connectMs + DEFAULT_TIMEOUTS.headersMs + DEFAULT_TIMEOUTS.bodyMs,
    },
  });
  const leases = { leaseMs: settings.MDE_LEASE_SECONDS * 1000, timeScale: settings.MDE_TIME_SCALE, logger };
  const closeShared = async () => {
    await limiters.stop();
    await coordination?.close();
  };
  if (coordination)
    logger.info("sharing limits, sessions and device locks with other replicas through Redis");
  try {
    // On-Behalf-Of only over HTTP, where callers bring their own Entra ID tokens (httpConfig checks it).
    const onBehalfOf = settings.MDE_HTTP_OBO && settings.MDE_TRANSPORT === "http";
    const tokenProvider = await createTokenProvider({ ...target.tokenSettings, onBehalfOf }, { logger });
    const client = new DefenderClient({
      apiBaseUrl: target.endpoints.apiBaseUrl,
      tokenProvider,
      timeScale: settings.MDE_TIME_SCALE,
      ca: target.ca,
      limiters,
      onApiCall,
      logger,
    });
    // Replicas share request ids and queued requests (a dead one's are adopted), and one poller per tenant.
    const requests = coordination && new RedisRequestRegistry(coordination, leases);
    const polling =
      coordination &&
      new RedisPolling(coordination, {
        ...leases,
        tenantId: target.tokenSettings.tenantId ?? "default",
        intervalMs: settings.MDE_POLL_INTERVAL_SECONDS * 1000,
        idleIntervalMs: DEFAULT_IDLE_POLL_INTERVAL_SECONDS * 1000,
      });
    const liveResponse = new LiveResponseService({
      client,
      downloadDir: settings.MDE_DOWNLOAD_DIR,
      timeScale: settings.MDE_TIME_SCALE,
      pollIntervalSeconds: settings.MDE_POLL_INTERVAL_SECONDS,
      maxSessions: settings.MDE_MAX_SESSIONS,
      blobCa: target.ca,
      shared: coordination && {
        sessions: new RedisSemaphore(coordination, {
          name: "sessions",
          capacity: settings.MDE_MAX_SESSIONS,
          ...leases,
        }),
        devices: new RedisLocks(coordination, leases),
        requests,
        polling,
      },
      logger,
    });
    recordFinalStatuses(audit, liveResponse, {
      client_name: `${SERVER_NAME} (poller)`,
      client_version: version,
    });
    // A dead replica's request this one submits is in this one's audit log.
    liveResponse.onAdoptedOutcome((entry, comment) => {
      const requester = { client_name: `${SERVER_NAME} (adopted from a replica)`, client_version: version };
      const ctx = { audit, callId: entry.requestId, requester, liveResponse };
      audit.track(entry.action ? auditSubmitted(ctx, entry, comment) : auditUnsubmitted(ctx, entry));
    });
    // A restart must neither forget this server's actions still in flight nor count them twice; with
    // replicas it takes back only those no live replica follows, so it must be alive in the index first.
    requests?.start();
    const { adopted } = await liveResponse.reconcile();
    if (adopted > 0)
      logger.info({ adopted }, "took back the sessions of this server's actions still in flight");
    polling?.start();
    // Approval mode console needs somewhere to show requests: without a console they are refused.
    const review = reviewConsoleWanted(settings)
      ? await createReviewConsole(settings, {
          store: await openApprovalStore({
            // With REDIS_URL every replica shows and decides the same approvals: no file.
            file: coordination ? undefined : reviewStoreFile(settings, logger),
            timeScale: settings.MDE_TIME_SCALE,
            redis:
              coordination && settings.REDIS_URL !== undefined
                ? { coordination, url: settings.REDIS_URL, logger }
                : undefined,
          }),
          audit,
          policy,
          liveResponse,
          logger,
          tokenSettings: target.tokenSettings,
        })
      : undefined;
    logger.info(
      {
        apiBase: target.endpoints.apiBaseUrl,
        credential: tokenProvider.description,
        downloadDir: settings.MDE_DOWNLOAD_DIR,
      },
      "live response runtime ready",
    );
    return {
      tokenProvider,
      coordination,
      deps: {
        liveResponse,
        client,
        limits: {
          defaultWaitSeconds: settings.MDE_DEFAULT_WAIT_SECONDS,
          maxOutputChars: settings.MDE_MAX_OUTPUT_CHARS,
          maxDevicesPerCall: settings.MDE_MAX_DEVICES_PER_CALL,
        },
        logger,
        policy,
        audit,
        ...(review ? { review: review.store } : {}),
        ...(coordination ? { coordination } : {}),
      },
      simulated: target.simulated,
      review,
      close: async () => {
        review?.close();
        await review?.store.flush();
        await review?.store.close?.();
        // Requests still queued here are withdrawn: nothing is submitted once the server stops.
        liveResponse.close();
        await liveResponse.flush();
        await polling?.stop();
        await requests?.close();
        // Their withdrawal is recorded before the log closes.
        await audit.close();
        await policy.close();
        await client.close();
        await closeShared();
        await target.close();
      },
    };
  } catch (err) {
    await closeShared();
    await audit.close();
    await policy.close();
    await target.close();
    throw err;
  }
}
