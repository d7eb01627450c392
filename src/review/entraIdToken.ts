import { timingSafeEqual } from "node:crypto";
import { errors, jwtVerify, type JWTPayload, type RemoteJWKSet } from "jose";
import { z } from "zod";
import type { IssuerGet } from "../http/issuerFetch.js";
import {
  CLOCK_TOLERANCE_SECONDS,
  keysUnreachable,
  openIdConfiguration,
  sharedUntilFailure,
  signingKeys,
} from "../http/openIdIssuer.js";
import { EntraSignInError } from "./entraSignInError.js";

const IdTokenClaimsSchema = z.looseObject({
  tid: z.string().min(1),
  oid: z.string().min(1),
  nonce: z.string(),
  preferred_username: z.string().min(1).optional(),
  name: z.string().optional(),
  roles: z.array(z.string()).default([]),
});
export type IdTokenClaims = z.infer<typeof IdTokenClaimsSchema>;

export interface EntraIdTokenVerifierOptions {
  /** e.g. https://login.microsoftonline.com */
  authorityHost: string;
  tenantId: string;
  /** The app registration the reviewer signed in to: the ID token's audience. */
  clientId: string;
  get: IssuerGet;
  /** Milliseconds since the epoch, for expiry; default Date.now. */
  now?: () => number;
}

interface IssuerMetadata {
  issuer: string;
  keys: RemoteJWKSet;
}

/**
 * Checks an ID token msal-node handed back, for what msal-node does not check itself: its signature
 * against the tenant's published keys, the v2.0 issuer of this tenant, the audience (this app),
 * expiry, the tenant, and the nonce of the sign-in this browser started (msal-node checks that too;
 * it costs nothing to be sure).
 */
export class EntraIdTokenVerifier {
  // A failed discovery is not kept: the next sign-in tries again.
  private readonly issuerMetadata = sharedUntilFailure(
    () => this.discover(),
    (error) =>
      new EntraSignInError(
        "ENTRA_SIGNIN_UNAVAILABLE",
        `cannot read the signing keys of ${this.options.authorityHost}/${this.options.tenantId} to check the sign-in (${error instanceof Error ? error.message : "unknown error"}); try again`,
      ),
  );

  constructor(private readonly options: EntraIdTokenVerifierOptions) {}

  async verify(idToken: string, nonce: string): Promise<IdTokenClaims> {
    const { issuer, keys } = await this.issuerMetadata();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, keys, {
        issuer,
        audience: this.options.clientId,
        algorithms: ["RS256"],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp", "iat", "tid", "oid", "nonce"],
        ...(this.options.now ? { currentDate: new Date(this.options.now()) } : {}),
      }));
    } catch (error) {
      throw rejection(error);
    }
    const parsed = IdTokenClaimsSchema.safeParse(payload);
    if (!parsed.success) throw invalid("it lacks the claims of an Entra ID v2.0 ID token");
    const claims = parsed.data;
    if (!issuer.toLowerCase().includes(`/${claims.tid.toLowerCase()}/`)) {
      throw invalid("it was issued for another tenant");
    }
    const given = Buffer.from(claims.nonce);
    const expected = Buffer.from(nonce);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw invalid("its nonce is not the one of the sign-in this browser started");
    }
    return claims;
  }

  private async discover(): Promise<IssuerMetadata> {
    const url = `${this.options.authorityHost}/${this.options.tenantId}/v2.0/.well-known/openid-configuration`;
    const config = await openIdConfiguration(this.options.get, url);
    return { issuer: config.issuer, keys: signingKeys(this.options.get, config) };
  }
}

function invalid(why: string): EntraSignInError {
  return new EntraSignInError(
    "ENTRA_SIGNIN_TOKEN",
    `the ID token from Entra ID was refused: ${why}; sign in again`,
  );
}

function rejection(error: unknown): EntraSignInError {
  if (error instanceof errors.JWTExpired) return invalid("it has expired (check this server's clock)");
  if (error instanceof errors.JWTClaimValidationFailed) {
    const why: Record<string, string> = {
      aud: "it was issued to another app (audience)",
      iss: "it was issued by another tenant or authority (issuer)",
      nbf: "it is not valid yet (check this server's clock)",
      iat: "its issue time is not acceptable (check this server's clock)",
    };
    return invalid(why[error.claim] ?? `its ${error.claim} claim is missing or not acceptable`);
  }
  if (keysUnreachable(error)) {
    return new EntraSignInError(
      "ENTRA_SIGNIN_UNAVAILABLE",
      "cannot fetch Entra ID's signing keys to check the sign-in; try again",
    );
  }
  return invalid("it is malformed or its signature is not valid");
}
