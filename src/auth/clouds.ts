import { z } from "zod";

/**
 * Where each Defender cloud lives (reference §1.1–1.2). us/eu/uk are the legacy geo API hosts of the
 * commercial cloud and take its scope. The gov scopes are community-sourced (the reference marks them
 * UNSURE), so every value can be overridden.
 */
export const CloudNameSchema = z.enum(["commercial", "us", "eu", "uk", "gcc", "gcc-high", "dod"]);
export type CloudName = z.infer<typeof CloudNameSchema>;

export const CloudEndpointsSchema = z.object({
  authorityHost: z.url(),
  apiBaseUrl: z.url(),
  scope: z.string().min(1),
});
export type CloudEndpoints = z.infer<typeof CloudEndpointsSchema>;

const COMMERCIAL_LOGIN = "https://login.microsoftonline.com";
const GOV_LOGIN = "https://login.microsoftonline.us";
const COMMERCIAL_SCOPE = "https://api.securitycenter.microsoft.com/.default";
const GOV_API = "https://api-gov.securitycenter.microsoft.us";

export const CLOUDS: Readonly<Record<CloudName, CloudEndpoints>> = {
  commercial: {
    authorityHost: COMMERCIAL_LOGIN,
    apiBaseUrl: "https://api.securitycenter.microsoft.com",
    scope: COMMERCIAL_SCOPE,
  },
  us: {
    authorityHost: COMMERCIAL_LOGIN,
    apiBaseUrl: "https://api-us.securitycenter.microsoft.com",
    scope: COMMERCIAL_SCOPE,
  },
  eu: {
    authorityHost: COMMERCIAL_LOGIN,
    apiBaseUrl: "https://api-eu.securitycenter.microsoft.com",
    scope: COMMERCIAL_SCOPE,
  },
  uk: {
    authorityHost: COMMERCIAL_LOGIN,
    apiBaseUrl: "https://api-uk.securitycenter.microsoft.com",
    scope: COMMERCIAL_SCOPE,
  },
  gcc: {
    authorityHost: COMMERCIAL_LOGIN,
    apiBaseUrl: "https://api-gcc.securitycenter.microsoft.us",
    scope: "https://api-gcc.securitycenter.microsoft.us/.default",
  },
  "gcc-high": { authorityHost: GOV_LOGIN, apiBaseUrl: GOV_API, scope: `${GOV_API}/.default` },
  dod: { authorityHost: GOV_LOGIN, apiBaseUrl: GOV_API, scope: `${GOV_API}/.default` },
};

/**
 * Microsoft's own login hosts. msal-node knows their metadata; any other authority host (the
 * simulator, a proxy) must be named in `knownAuthorities`, or MSAL asks login.microsoftonline.com to
 * validate it.
 */
const MICROSOFT_AUTHORITY_HOSTS = new Set([
  "login.microsoftonline.com",
  "login.microsoftonline.us",
  "login.microsoft.com",
  "login.windows.net",
  "sts.windows.net",
  "login.usgovcloudapi.net",
  "login-us.microsoftonline.com",
  "login.partner.microsoftonline.cn",
  "login.chinacloudapi.cn",
]);

export function isMicrosoftAuthorityHost(authorityHost: string): boolean {
  return MICROSOFT_AUTHORITY_HOSTS.has(new URL(authorityHost).host.toLowerCase());
}

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, "");

/** The cloud's endpoints, with explicit overrides winning. An overridden API base keeps the cloud's scope. */
export function resolveCloudEndpoints(options: {
  cloud?: CloudName;
  apiBaseUrl?: string;
  authorityHost?: string;
  scope?: string;
}): CloudEndpoints {
  const cloud = CLOUDS[options.cloud ?? "commercial"];
  return {
    authorityHost: withoutTrailingSlash(options.authorityHost ?? cloud.authorityHost),
    apiBaseUrl: withoutTrailingSlash(options.apiBaseUrl ?? cloud.apiBaseUrl),
    scope: options.scope ?? cloud.scope,
  };
}
