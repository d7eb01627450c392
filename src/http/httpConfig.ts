import { CLOUDS } from "../auth/clouds.js";
import { scaleMs } from "../config/time.js";
import { ConfigError, type Settings } from "../config/settings.js";
import { isLoopbackAddress } from "./loopback.js";

/** Bodies above this are refused with 413 before they are parsed (the SDK's own bound). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface OAuthConfig {
  /** e.g. https://login.microsoftonline.com */
  authorityHost: string;
  tenantId: string;
  /** Accepted `aud` values: the Application ID URI first (it names the scope clients ask for). */
  audiences: string[];
  /** A delegated scope (`scp`) that admits a token. */
  scope: string | undefined;
  /** An app role (`roles`) that admits a token. */
  role: string | undefined;
}

export interface HttpServerConfig {
  host: string;
  port: number;
  /** Where clients reach the server (reverse proxy); undefined: the request's own Host over http. */
  publicUrl: URL | undefined;
  /** Host names accepted in `Host` besides loopback, the bind address and the public URL's. */
  allowedHosts: string[];
  /** Browser origins accepted in `Origin` (and answered with CORS). */
  allowedOrigins: string[];
  /** Real milliseconds, already divided by the time scale. */
  sessionIdleMs: number;
  maxBodyBytes: number;
  apiKeysFile: string | undefined;
  oauth: OAuthConfig | undefined;
}

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");

/**
 * The HTTP transport's settings, checked together: every mistake is reported at once, and a server
 * that would listen beyond loopback with nobody authenticated refuses to start.
 */
export function httpConfigFrom(settings: Settings): HttpServerConfig {
  const problems: string[] = [];
  const oauth = oauthConfigFrom(settings, problems);
  const apiKeysFile = settings.MDE_HTTP_API_KEYS_FILE;
  if (!isLoopbackAddress(settings.MDE_HTTP_HOST) && apiKeysFile === undefined && oauth === undefined) {
    problems.push(
      `MDE_HTTP_HOST: refusing to listen on ${settings.MDE_HTTP_HOST} without authentication: anyone who reaches that address could run live response on your devices. Set MDE_HTTP_API_KEYS_FILE or MDE_HTTP_OAUTH_AUDIENCE, or listen on 127.0.0.1 behind a reverse proxy that authenticates`,
    );
  }
  if (settings.MDE_HTTP_OBO && oauth === undefined) {
    problems.push(
      "MDE_HTTP_OBO: On-Behalf-Of needs the callers' Entra ID tokens: set MDE_HTTP_OAUTH_AUDIENCE (and its tenant and scope or role) too",
    );
  }
  const allowedOrigins: string[] = [];
  for (const origin of list(settings.MDE_HTTP_ALLOWED_ORIGINS)) {
    const parsed = URL.canParse(origin) ? new URL(origin) : undefined;
    if (
      parsed === undefined ||
      parsed.origin === "null" ||
      parsed.origin !== origin.replace(/\/+$/, "").toLowerCase()
    ) {
      problems.push(`MDE_HTTP_ALLOWED_ORIGINS: "${origin}" is not an origin (scheme://host[:port], no path)`);
    } else {
      allowedOrigins.push(parsed.origin);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host: settings.MDE_HTTP_HOST,
    port: settings.MDE_HTTP_PORT,
    publicUrl: settings.MDE_HTTP_PUBLIC_URL === undefined ? undefined : new URL(settings.MDE_HTTP_PUBLIC_URL),
    allowedHosts: list(settings.MDE_HTTP_ALLOWED_HOSTS),
    allowedOrigins,
    sessionIdleMs: scaleMs(settings.MDE_HTTP_SESSION_IDLE_SECONDS * 1000, settings.MDE_TIME_SCALE),
    maxBodyBytes: MAX_BODY_BYTES,
    apiKeysFile,
    oauth,
  };
}

function oauthConfigFrom(settings: Settings, problems: string[]): OAuthConfig | undefined {
  const audiences = list(settings.MDE_HTTP_OAUTH_AUDIENCE);
  if (audiences.length === 0) {
    const stray = (
      [
        "MDE_HTTP_OAUTH_TENANT_ID",
        "MDE_HTTP_OAUTH_AUTHORITY",
        "MDE_HTTP_OAUTH_SCOPE",
        "MDE_HTTP_OAUTH_ROLE",
      ] as const
    ).filter((name) => settings[name] !== undefined);
    if (stray.length > 0) {
      problems.push(`${stray.join(", ")}: OAuth is off until MDE_HTTP_OAUTH_AUDIENCE names this server`);
    }
    return undefined;
  }
  const tenantId = settings.MDE_HTTP_OAUTH_TENANT_ID ?? settings.AZURE_TENANT_ID;
  if (tenantId === undefined) {
    problems.push("MDE_HTTP_OAUTH_TENANT_ID: set the tenant whose tokens are accepted (or AZURE_TENANT_ID)");
  }
  const scope = settings.MDE_HTTP_OAUTH_SCOPE;
  const role = settings.MDE_HTTP_OAUTH_ROLE;
  if (scope === undefined && role === undefined) {
    // Entra issues a token for any app registration to every user of the tenant who consents.
    problems.push(
      "MDE_HTTP_OAUTH_SCOPE / MDE_HTTP_OAUTH_ROLE: name the scope or app role a token must carry; otherwise every user and app of the tenant could call the server",
    );
  }
  if (tenantId === undefined) return undefined;
  return {
    authorityHost:
      settings.MDE_HTTP_OAUTH_AUTHORITY ??
      settings.AZURE_AUTHORITY_HOST ??
      CLOUDS[settings.MDE_CLOUD].authorityHost.replace(/\/+$/, ""),
    tenantId,
    audiences,
    scope,
    role,
  };
}
