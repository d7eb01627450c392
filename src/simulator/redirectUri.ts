/**
 * Redirect URIs as Entra registers and matches them: https, or http on a loopback host; a loopback
 * URI matches whatever port the request names (RFC 8252 §7.3: native and local apps get ephemeral
 * ports), every other URI matches exactly.
 */
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

function parse(value: string): URL | undefined {
  return URL.canParse(value) ? new URL(value) : undefined;
}

const isLoopback = (url: URL) => LOOPBACK_HOSTS.has(url.hostname);

/** Whether an app registration may list this URI. */
export function isRegistrableRedirectUri(value: string): boolean {
  const url = parse(value);
  if (url === undefined || url.hash !== "") return false;
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopback(url));
}

/** Whether a request's `redirect_uri` is one of the registered ones. */
export function redirectUriMatches(registered: readonly string[], given: string): boolean {
  const url = parse(given);
  if (url === undefined) return false;
  return registered.some((r) => {
    if (r === given) return true;
    const reg = parse(r);
    if (reg === undefined || !isLoopback(reg) || !isLoopback(url)) return false;
    return (
      reg.protocol === url.protocol &&
      reg.hostname === url.hostname &&
      reg.pathname === url.pathname &&
      reg.search === url.search
    );
  });
}
