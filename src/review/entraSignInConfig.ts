import { ConfigError, type Settings } from "../config/settings.js";

/** Where the console's Entra sign-in lives, below the console's public base URL. */
export const ENTRA_SIGNIN_PATH = "/review/signin/entra";
export const ENTRA_CALLBACK_PATH = `${ENTRA_SIGNIN_PATH}/callback`;

export interface EntraSignInConfig {
  /** `<MDE_REVIEW_PUBLIC_URL>/review/signin/entra/callback`: a Web redirect URI of the app registration. */
  redirectUri: string;
  /** An app role the reviewer must carry in the ID token's `roles`; undefined: any user of the tenant. */
  requiredRole: string | undefined;
}

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])$/i;

/**
 * The console's Entra sign-in settings, checked together at start: every mistake at once, with the
 * setting that fixes it. Undefined when MDE_REVIEW_ENTRA is off.
 */
export function entraSignInConfigFrom(settings: Settings): EntraSignInConfig | undefined {
  const problems: string[] = [];
  if (!settings.MDE_REVIEW_ENTRA) {
    if (settings.MDE_REVIEW_ENTRA_ROLE !== undefined) {
      problems.push(
        "MDE_REVIEW_ENTRA_ROLE: Entra sign-in to the review console is off until MDE_REVIEW_ENTRA=1",
      );
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return undefined;
  }
  const base = settings.MDE_REVIEW_PUBLIC_URL ?? settings.MDE_HTTP_PUBLIC_URL;
  const from = settings.MDE_REVIEW_PUBLIC_URL === undefined ? "MDE_HTTP_PUBLIC_URL" : "MDE_REVIEW_PUBLIC_URL";
  if (base === undefined) {
    problems.push(
      `MDE_REVIEW_PUBLIC_URL: set the review console's external base URL (e.g. https://mcp.contoso.com); Entra ID sends reviewers back to <it>${ENTRA_CALLBACK_PATH}, which must be a Web redirect URI of the app registration`,
    );
  } else {
    const url = new URL(base);
    if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.test(url.hostname))) {
      problems.push(
        `${from}: Entra ID redirects only to https:// (or http:// on localhost and 127.0.0.1); set MDE_REVIEW_PUBLIC_URL to the console's https:// address`,
      );
    }
  }
  if (!settings.MDE_SIMULATOR) {
    if (settings.MDE_MANAGED_IDENTITY) {
      problems.push(
        "MDE_REVIEW_ENTRA: signing reviewers in needs the app registration's own credential (AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE); a managed identity cannot redeem a sign-in code",
      );
    }
    if (settings.AZURE_TENANT_ID === undefined || settings.AZURE_CLIENT_ID === undefined) {
      problems.push(
        "MDE_REVIEW_ENTRA: set AZURE_TENANT_ID and AZURE_CLIENT_ID: reviewers sign in to that app registration in that tenant",
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    redirectUri: `${(base as string).replace(/\/+$/, "")}${ENTRA_CALLBACK_PATH}`,
    requiredRole: settings.MDE_REVIEW_ENTRA_ROLE,
  };
}
