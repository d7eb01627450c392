import { z } from "zod";
import type { Logger } from "../logger.js";
import { msalCredentialOf, type MsalCredential } from "./confidentialClient.js";
import { AuthenticationError } from "./errors.js";
import { ManagedIdentityTokenProvider } from "./managedIdentityTokenProvider.js";
import { MsalTokenProvider } from "./msalTokenProvider.js";
import { OnBehalfOfTokenProvider } from "./oboTokenProvider.js";
import type { TokenProvider } from "./tokenProvider.js";

/**
 * Picks the token provider from the settings: managed identity when asked for, otherwise a
 * confidential client with exactly one credential. Errors name the variables to set, never values.
 */
export const TokenProviderSettingsSchema = z.object({
  tenantId: z.string().optional(),
  clientId: z.string().optional(),
  clientSecret: z.string().optional(),
  certificatePath: z.string().optional(),
  certificatePassword: z.string().optional(),
  federatedTokenFile: z.string().optional(),
  authorityHost: z.string(),
  scope: z.string(),
  /** An extra CA certificate (PEM) to trust for the authority host. */
  ca: z.string().optional(),
  useManagedIdentity: z.boolean().optional(),
  /** MDE_HTTP_OBO: a user's tool calls reach the API On-Behalf-Of them (see OnBehalfOfTokenProvider). */
  onBehalfOf: z.boolean().optional(),
});
export type TokenProviderSettings = z.infer<typeof TokenProviderSettingsSchema>;

const CREDENTIAL_VARIABLES = {
  clientSecret: "AZURE_CLIENT_SECRET",
  certificatePath: "AZURE_CLIENT_CERTIFICATE_PATH",
  federatedTokenFile: "AZURE_FEDERATED_TOKEN_FILE",
} as const;
type CredentialField = keyof typeof CREDENTIAL_VARIABLES;

function configError(message: string): AuthenticationError {
  return new AuthenticationError("AUTH_CONFIG", message);
}

export async function createTokenProvider(
  settings: TokenProviderSettings,
  options: { logger?: Logger } = {},
): Promise<TokenProvider> {
  const given = (Object.keys(CREDENTIAL_VARIABLES) as CredentialField[]).filter((f) => settings[f]);
  const names = given.map((f) => CREDENTIAL_VARIABLES[f]);

  if (settings.useManagedIdentity) {
    if (settings.onBehalfOf) {
      // The On-Behalf-Of grant authenticates the app with its own credential; a managed identity has none to give.
      throw configError(
        "MDE_HTTP_OBO needs the app registration's credential (AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE), not a managed identity",
      );
    }
    if (given.length > 0) {
      throw configError(
        `managed identity was requested, but ${names.join(" and ")} is also set: use one credential`,
      );
    }
    return new ManagedIdentityTokenProvider({
      scope: settings.scope,
      ...(settings.clientId ? { clientId: settings.clientId } : {}),
    });
  }

  const all = Object.values(CREDENTIAL_VARIABLES).join(", ");
  if (given.length === 0) {
    throw configError(`no credential is configured: set exactly one of ${all}, or use a managed identity`);
  }
  if (given.length > 1) {
    throw configError(`${names.join(" and ")} are all set: keep exactly one of ${all}`);
  }
  const missing = [
    ...(settings.tenantId ? [] : ["AZURE_TENANT_ID"]),
    ...(settings.clientId ? [] : ["AZURE_CLIENT_ID"]),
  ];
  if (missing.length > 0) {
    throw configError(`${missing.join(" and ")} must be set to use ${names[0]}`);
  }

  // The checks above leave exactly one credential set.
  const credential = (await msalCredentialOf(settings)) as MsalCredential;
  const app = new MsalTokenProvider({
    tenantId: settings.tenantId ?? "",
    clientId: settings.clientId ?? "",
    credential,
    authorityHost: settings.authorityHost,
    scope: settings.scope,
    ...(settings.ca ? { ca: settings.ca } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return settings.onBehalfOf ? new OnBehalfOfTokenProvider(app) : app;
}
