import type { IncomingHttpHeaders } from "node:http";
import { isLoopbackAddress, LOOPBACK_NAMES, normalizeHostname } from "./loopback.js";

/** Headers a browser client needs to read, and may send, once its origin is allowed. */
const EXPOSED_HEADERS = "mcp-session-id, mcp-protocol-version, www-authenticate";
const ALLOWED_HEADERS =
  "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";

export type GuardVerdict = { ok: true } | { ok: false; status: 403; message: string };

export interface RequestGuardOptions {
  bindHost: string;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  publicUrl: URL | undefined;
}

/**
 * DNS-rebinding and cross-site protection, as the MCP transport spec requires: the `Host` header
 * must name this server (a page on evil.example that rebinds its name to 127.0.0.1 still sends
 * `Host: evil.example`), and an `Origin` header, when present, must be this server's own or one
 * configured. Clients that are not browsers send no Origin and pass.
 */
export class RequestGuard {
  private readonly hosts: Set<string>;
  private readonly origins: Set<string>;

  constructor(private readonly options: RequestGuardOptions) {
    const bind = normalizeHostname(options.bindHost);
    // A wildcard bind names no host; clients then reach the server by a name that must be listed.
    const bindName = bind === "0.0.0.0" || bind === "::" ? [] : [bind];
    this.hosts = new Set(
      [
        ...LOOPBACK_NAMES,
        ...bindName,
        ...options.allowedHosts,
        ...(options.publicUrl ? [options.publicUrl.hostname] : []),
      ].map(normalizeHostname),
    );
    this.origins = new Set([
      ...options.allowedOrigins,
      ...(options.publicUrl ? [options.publicUrl.origin] : []),
    ]);
  }

  /** True when browsers from configured origins may call: CORS is answered for them, and for no one else. */
  get corsEnabled(): boolean {
    return this.options.allowedOrigins.length > 0;
  }

  checkHost(headers: IncomingHttpHeaders): GuardVerdict {
    const host = headers.host;
    const name = host === undefined ? undefined : hostnameOf(host);
    if (name !== undefined && (this.hosts.has(name) || isLoopbackAddress(name))) return { ok: true };
    return {
      ok: false,
      status: 403,
      message: `Host header ${host === undefined ? "missing" : "not allowed"}; add the name clients use to MDE_HTTP_ALLOWED_HOSTS`,
    };
  }

  checkOrigin(headers: IncomingHttpHeaders): GuardVerdict {
    const origin = headers.origin;
    if (origin === undefined || this.isAllowedOrigin(origin, headers.host)) return { ok: true };
    return {
      ok: false,
      status: 403,
      message: "Origin not allowed; a browser client's origin must be listed in MDE_HTTP_ALLOWED_ORIGINS",
    };
  }

  /** CORS headers for a response to an allowed configured origin; none otherwise. */
  corsHeaders(origin: string | undefined): Record<string, string> {
    if (!this.corsEnabled || origin === undefined || !this.origins.has(origin.toLowerCase())) return {};
    return {
      "access-control-allow-origin": origin,
      "access-control-expose-headers": EXPOSED_HEADERS,
      vary: "Origin",
    };
  }

  /** The answer to a CORS preflight from an allowed origin. */
  preflightHeaders(origin: string | undefined): Record<string, string> {
    const cors = this.corsHeaders(origin);
    if (Object.keys(cors).length === 0) return {};
    return {
      ...cors,
      "access-control-allow-methods": "GET, POST, DELETE",
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": "600",
    };
  }

  private isAllowedOrigin(origin: string, host: string | undefined): boolean {
    if (!URL.canParse(origin)) return false;
    const parsed = new URL(origin);
    if (parsed.origin === "null") return false;
    if (this.origins.has(parsed.origin)) return true;
    // Same origin: a page this server's own host and port served.
    return (
      host !== undefined &&
      parsed.host === host.toLowerCase() &&
      this.hosts.has(normalizeHostname(parsed.hostname))
    );
  }
}

/** The host name of a Host header (`name`, `name:port`, `[v6]:port`); undefined when it is not one. */
function hostnameOf(host: string): string | undefined {
  const withScheme = `http://${host}`;
  if (!URL.canParse(withScheme)) return undefined;
  const url = new URL(withScheme);
  const extra = url.username + url.password + url.search + url.hash;
  if (extra !== "" || url.pathname !== "/") return undefined;
  return normalizeHostname(url.hostname);
}
