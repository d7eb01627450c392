import type { ApiKeyStore } from "./apiKeys.js";
import { HttpAuthError } from "./authError.js";
import type { EntraTokenVerifier, VerifiedCaller } from "./entraTokenVerifier.js";
import { ANONYMOUS, authInfoFor } from "./principal.js";

const REALM = "mde-live-response-mcp";

/**
 * Who sent a request to /mcp, from its `Authorization: Bearer …` header: an API key from the keys
 * file, or an Entra ID access token. Both modes may be on at once (agents with keys, people with
 * tokens). With neither configured the server only listens on loopback, and every caller is the
 * anonymous principal.
 */
export class RequestAuthenticator {
  constructor(
    private readonly keys: ApiKeyStore | undefined,
    readonly oauth: EntraTokenVerifier | undefined,
  ) {}

  get enabled(): boolean {
    return this.keys !== undefined || this.oauth !== undefined;
  }

  /** Throws HttpAuthError when the caller is not let in. */
  async authenticate(authorization: string | undefined): Promise<VerifiedCaller> {
    if (!this.enabled) {
      return {
        principal: ANONYMOUS,
        authInfo: authInfoFor(ANONYMOUS, { token: "", clientId: "", scopes: [] }),
      };
    }
    const credential = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization ?? "")?.[1];
    if (credential === undefined) {
      throw new HttpAuthError(
        "missing_token",
        "send Authorization: Bearer with an API key or an access token",
      );
    }
    const holder = this.keys?.match(credential);
    if (holder !== undefined) {
      return {
        principal: holder,
        authInfo: authInfoFor(holder, { token: "", clientId: holder.name, scopes: [] }),
      };
    }
    if (this.oauth !== undefined && credential.split(".").length === 3) return this.oauth.verify(credential);
    throw new HttpAuthError("invalid_token", `the ${this.keys ? "API key" : "access token"} is not valid`);
  }

  /**
   * The `WWW-Authenticate` value of a refusal (RFC 6750 §3). With OAuth on it names the Protected
   * Resource Metadata and the scopes to ask for, as the MCP authorization spec requires.
   */
  challenge(error: HttpAuthError, resourceMetadataUrl: string): string {
    const params: Array<[string, string]> = [["realm", REALM]];
    if (this.oauth !== undefined) {
      params.push(["resource_metadata", resourceMetadataUrl]);
      const scopes = this.oauth.scopesSupported;
      if (scopes.length > 0) params.push(["scope", scopes.join(" ")]);
    }
    if (error.code === "invalid_token" || error.code === "insufficient_scope") {
      params.push(["error", error.code], ["error_description", error.message]);
    }
    return `Bearer ${params.map(([k, v]) => `${k}="${quotable(v)}"`).join(", ")}`;
  }
}

/** RFC 6750 allows neither `"` nor `\` in these values, nor anything outside printable ASCII. */
function quotable(value: string): string {
  return value.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?");
}
