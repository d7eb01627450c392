import { CLOUDS } from "../auth/clouds.js";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../logger.js";
import { startSimulator } from "../simulator/index.js";
import type { ApiTarget } from "./apiTarget.js";

/** Settings that point at a real tenant; the simulator replaces them all, so setting one is worth a warning. */
const TENANT_SETTINGS = [
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "AZURE_FEDERATED_TOKEN_FILE",
  "AZURE_AUTHORITY_HOST",
  "MDE_API_BASE_URL",
  "MDE_API_SCOPE",
] as const satisfies ReadonlyArray<keyof Settings>;

/**
 * `--simulator`: the Contoso demo tenant served from this process on loopback, so the server runs with
 * no tenant at all. The product talks to it exactly as to Defender (HTTPS, msal-node tokens, blob
 * links); only the simulator's own CA is added to what the connections trust.
 */
export async function startEmbeddedSimulator(settings: Settings, logger: Logger): Promise<ApiTarget> {
  const ignored = [
    ...TENANT_SETTINGS.filter((name) => settings[name] !== undefined),
    ...(settings.MDE_MANAGED_IDENTITY ? ["MDE_MANAGED_IDENTITY"] : []),
  ];
  if (ignored.length > 0) {
    logger.warn({ ignored }, "simulator mode: these tenant settings are ignored");
  }
  const simulator = await startSimulator({
    timeScale: settings.MDE_TIME_SCALE,
    logger: logger.child({ component: "simulator" }),
  });
  logger.info(
    { apiBase: simulator.apiBase, tenantId: simulator.tenantId, timeScale: settings.MDE_TIME_SCALE },
    "serving a SIMULATED tenant (Contoso demo): no real device is touched",
  );
  return {
    endpoints: {
      apiBaseUrl: simulator.apiBase,
      authorityHost: simulator.authorityHost,
      scope: CLOUDS.commercial.scope,
    },
    tokenSettings: {
      tenantId: simulator.tenantId,
      clientId: simulator.clientId,
      clientSecret: simulator.clientSecret,
      authorityHost: simulator.authorityHost,
      scope: CLOUDS.commercial.scope,
      ca: simulator.caCertPem,
    },
    ca: simulator.caCertPem,
    simulated: true,
    close: () => simulator.close(),
  };
}
