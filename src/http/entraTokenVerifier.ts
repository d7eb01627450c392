import { errors, jwtVerify, type JWTPayload, type RemoteJWKSet } from "jose";
import { z } from "zod";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { HttpAuthError } from "./authError.js";
import type { OAuthConfig } from "./httpConfig.js";
import type { IssuerGet } from "./issuerFetch.js";
import {
  CLOCK_TOLERANCE_SECONDS,
  keysUnreachable,
  openIdConfiguration,
  sharedUntilFailure,
  signingKeys,
} from "./openIdIssuer.js";
import { authInfoFor, type Principal } from "./principal.js";

const ClaimsSchema = z.looseObject({
  tid: z.string(),
  /** The user's or service principal's object id: what a session is bound to. */
  oid: z.string().min(1),
  idtyp: z.string().optional(),
  upn: z.string().optional(),
  preferred_username: z.string().optional(),
  unique_name: z.string().optional(),
  appid: z.string().optional(),
  azp: z.string().optional(),
  app_displayname: z.string().optional(),
  scp: z.string().optional(),
  roles: z.array(z.string()).optional(),
  exp: z.number(),
});
type Claims = z.infer<typeof ClaimsSchema>;

interface IssuerMetadata {
  /** v1 tokens (`https://sts.windows.net/<tid>/`) and v2 tokens (`<authority>/<tid>/v2.0`) name different issuers. */
  issuers: string[];
  keys: RemoteJWKSet;
}

export interface VerifiedCaller {
  principal: Principal;
  authInfo: AuthInfo;
}

/**
 * An OAuth 2.1 resource server's check of Entra ID access tokens: signature against the tenant's
 * published keys (found through its OpenID configuration, cached and refreshed by jose), issuer,
 * audience (this server and nothing else), expiry, tenant, and the scope or app role that admits a
 * caller. The token is never forwarded anywhere.
 */
export class EntraTokenVerifier {
  // A failed discovery is not cached: the next request tries again.
  private readonly issuerMetadata = sharedUntilFailure(
    () => this.discover(),
    (error) =>
      new HttpAuthError(
        "issuer_unavailable",
        `cannot reach the token issuer to check tokens (${error instanceof Error ? error.message : String(error)}); try again`,
      ),
  );

  constructor(
    readonly config: OAuthConfig,
    private readonly get: IssuerGet,
  ) {}

  /** The authorization server clients get tokens from (Protected Resource Metadata). */
  get issuerUrl(): string {
    return `${this.config.authorityHost}/${this.config.tenantId}/v2.0`;
  }

  /** The scopes a client asks Entra ID for, e.g. `api://mde-mcp/mcp.access`. */
  get scopesSupported(): string[] {
    const [resource] = this.config.audiences;
    return this.config.scope === undefined || resource === undefined
      ? []
      : [`${resource.replace(/\/+$/, "")}/${this.config.scope}`];
  }

  /** Throws HttpAuthError: `invalid_token` (401), `insufficient_scope` (403), `issuer_unavailable` (503). */
  async verify(token: string): Promise<VerifiedCaller> {
    const { issuers, keys } = await this.issuerMetadata();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: issuers,
        audience: this.config.audiences,
        algorithms: ["RS256"],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp", "tid"],
      }));
    } catch (error) {
      throw rejection(error);
    }
    const parsed = ClaimsSchema.safeParse(payload);
    if (!parsed.success)
      throw new HttpAuthError("invalid_token", "the token lacks the claims of an Entra ID access token");
    const claims = parsed.data;
    if (claims.tid.toLowerCase() !== this.config.tenantId.toLowerCase()) {
      throw new HttpAuthError("invalid_token", "the token was issued for another tenant");
    }
    const scopes = (claims.scp ?? "").split(" ").filter((s) => s !== "");
    const roles = claims.roles ?? [];
    const { scope, role } = this.config;
    const admitted =
      (scope !== undefined && scopes.includes(scope)) || (role !== undefined && roles.includes(role));
    if (!admitted) {
      throw new HttpAuthError(
        "insufficient_scope",
        `the token carries neither ${[scope && `the scope ${scope}`, role && `the app role ${role}`].filter(Boolean).join(" nor ")}`,
      );
    }
    const principal = principalFrom(claims);
    return {
      principal,
      authInfo: authInfoFor(principal, {
        token,
        clientId: claims.azp ?? claims.appid ?? "",
        scopes: [...scopes, ...roles],
        expiresAt: claims.exp,
      }),
    };
  }

  /** Readiness: the issuer's documents and signing keys can be fetched. */
  async ready(): Promise<void> {
    const { keys } = await this.issuerMetadata();
    if (!keys.fresh) await keys.reload();
  }

  private async discover(): Promise<IssuerMetadata> {
    const base = `${this.config.authorityHost}/${this.config.tenantId}`;
    const [v2, v1] = await Promise.all([
      openIdConfiguration(this.get, `${base}/v2.0/.well-known/openid-configuration`),
      openIdConfiguration(this.get, `${base}/.well-known/openid-configuration`),
    ]);
    return { issuers: [...new Set([v2.issuer, v1.issuer])], keys: signingKeys(this.get, v2) };
  }
}

/** What a client is told about a token jose refused; a key set that cannot be fetched is the server's problem. */
function rejection(error: unknown): HttpAuthError {
  if (error instanceof errors.JWTExpired) return new HttpAuthError("invalid_token", "the token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    const why: Record<string, string> = {
      aud: "the token was not issued for this server (audience)",
      iss: "the token was issued by another tenant or authority",
      nbf: "the token is not valid yet",
    };
    return new HttpAuthError(
      "invalid_token",
      why[error.claim] ?? `the token's ${error.claim} claim is not acceptable`,
    );
  }
  if (keysUnreachable(error)) {
    return new HttpAuthError("issuer_unavailable", "cannot fetch the token issuer's signing keys; try again");
  }
  return new HttpAuthError("invalid_token", "the token is malformed or its signature is not valid");
}

function principalFrom(claims: Claims): Principal {
  const objectId = claims.oid;
  const user = claims.upn ?? claims.preferred_username ?? claims.unique_name;
  const isApp = claims.idtyp === "app" || (claims.scp === undefined && user === undefined);
  return {
    kind: isApp ? "app" : "user",
    id: `entra:${objectId}`,
    name: (isApp ? (claims.app_displayname ?? claims.appid ?? claims.azp) : user) ?? objectId,
    tenantId: claims.tid,
  };
}
