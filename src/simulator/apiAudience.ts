/**
 * The audiences the Defender API accepts in an access token (reference §1.2): the classic and unified
 * hosts, their geo and government variants, the WindowsDefenderATP App ID URI and app id. A token
 * minted for any other resource (Graph, a typo in the scope) is refused with 401, as the real API does,
 * so a misconfigured scope shows up against the simulator and not first in production.
 */
const DEFENDER_AUDIENCES = new Set(
  [
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
    "https://api-us.securitycenter.microsoft.com",
    "https://api-eu.securitycenter.microsoft.com",
    "https://api-uk.securitycenter.microsoft.com",
    "https://api-au.securitycenter.microsoft.com",
    "https://api-gcc.securitycenter.microsoft.us",
    "https://api-gov.securitycenter.microsoft.us",
    "https://api.securitycenter.microsoft.us",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "https://securitycenter.microsoft.com/mtp",
    "fc780465-2017-40d4-a0c5-307022471b92",
  ].map((a) => a.toLowerCase()),
);

/** `ownOrigins`: the simulator's own API origins, accepted as a resource too. */
export function isDefenderAudience(audience: string, ownOrigins: readonly string[]): boolean {
  const aud = audience.replace(/\/+$/, "").toLowerCase();
  return DEFENDER_AUDIENCES.has(aud) || ownOrigins.some((o) => o.toLowerCase() === aud);
}
