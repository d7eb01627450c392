import { isIP } from "node:net";

/** Host names every machine resolves to itself; a browser page elsewhere cannot claim them. */
export const LOOPBACK_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];

/** `[::1]` → `::1`, lower case: the form host names are compared in. */
export function normalizeHostname(host: string): string {
  return host.replace(/^\[|\]$/g, "").toLowerCase();
}

/**
 * True for addresses only this machine can reach. A name other than `localhost` may resolve anywhere,
 * and a wildcard (0.0.0.0, ::) listens on every interface, so neither counts.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = normalizeHostname(host);
  if (h === "localhost" || h === "::1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h.startsWith("::ffff:127.") && isIP(h) === 6;
}
