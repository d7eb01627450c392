import { resolveCloudEndpoints, type CloudEndpoints } from "../auth/clouds.js";
import type { TokenProviderSettings } from "../auth/createTokenProvider.js";
import type { Settings } from "../config/settings.js";
import type { Logger } from "../logger.js";
import { startEmbeddedSimulator } from "./embeddedSimulator.js";

/**
 * What the server talks to: the tenant the settings name, or, with MDE_SIMULATOR, a simulator
 * started in this process. Everything downstream (token provider, API client, blob downloads) is
 * built from this one description, so `serve` and `check` cannot disagree about it.
 */
export interface ApiTarget {
  endpoints: CloudEndpoints;
  tokenSettings: TokenProviderSettings;
  /** An extra CA certificate (PEM) for the API, the token endpoint and result blobs: the simulator's. */
  ca: string | undefined;
  /** True when the target is the embedded simulator: no real device is touched. */
  simulated: boolean;
  close(): Promise<void>;
}

export async function openApiTarget(settings: Settings, logger: Logger): Promise<ApiTarget> {
  if (settings.MDE_SIMULATOR) return startEmbeddedSimulator(settings, logger);
  const endpoints = resolveCloudEndpoints({
    cloud: settings.MDE_CLOUD,
    apiBaseUrl: settings.MDE_API_BASE_URL,
    authorityHost: settings.AZURE_AUTHORITY_HOST,
    scope: settings.MDE_API_SCOPE,
  });
  return {
    endpoints,
    tokenSettings: {
      tenantId: settings.AZURE_TENANT_ID,
      clientId: settings.AZURE_CLIENT_ID,
      clientSecret: settings.AZURE_CLIENT_SECRET,
      certificatePath: settings.AZURE_CLIENT_CERTIFICATE_PATH,
      certificatePassword: settings.AZURE_CLIENT_CERTIFICATE_PASSWORD,
      federatedTokenFile: settings.AZURE_FEDERATED_TOKEN_FILE,
      authorityHost: endpoints.authorityHost,
      scope: endpoints.scope,
      useManagedIdentity: settings.MDE_MANAGED_IDENTITY,
    },
    ca: undefined,
    simulated: false,
    close: async () => {},
  };
}
