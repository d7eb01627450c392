import type { EntraTokenVerifier } from "./entraTokenVerifier.js";

export const MCP_PATH = "/mcp";
export const METADATA_PATH = "/.well-known/oauth-protected-resource";

export interface ResourceUrls {
  /** The MCP endpoint as clients name it: the OAuth resource. */
  resource: string;
  /** Its Protected Resource Metadata (RFC 9728 §3.1: the well-known segment goes before the path). */
  metadata: string;
}

/**
 * Behind a reverse proxy only the configured public URL is right; without one, the request's own
 * Host (already checked against the allowed hosts) over plain http, as a loopback server is reached.
 */
export function resourceUrls(publicUrl: URL | undefined, host: string | undefined): ResourceUrls {
  const base = publicUrl ?? new URL(`http://${host ?? "localhost"}`);
  const prefix = base.pathname.replace(/\/+$/, "");
  return {
    resource: `${base.origin}${prefix}${MCP_PATH}`,
    metadata: `${base.origin}${METADATA_PATH}${prefix}${MCP_PATH}`,
  };
}

/** The Protected Resource Metadata document (RFC 9728 §2) the MCP authorization spec requires. */
export function protectedResourceMetadata(
  urls: ResourceUrls,
  verifier: EntraTokenVerifier,
): Record<string, unknown> {
  return {
    resource: urls.resource,
    authorization_servers: [verifier.issuerUrl],
    scopes_supported: verifier.scopesSupported,
    bearer_methods_supported: ["header"],
    resource_name: "mde-live-response-mcp",
  };
}
