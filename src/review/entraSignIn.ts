import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  AuthError,
  CryptoProvider,
  ResponseMode,
  ServerError,
  type AuthenticationResult,
} from "@azure/msal-node";
import { z } from "zod";
import { createConfidentialClient, msalCredentialOf } from "../auth/confidentialClient.js";
import type { TokenProviderSettings } from "../auth/createTokenProvider.js";
import { AuthenticationError, redactKnownSecrets } from "../auth/errors.js";
import { MsalNetworkClient } from "../auth/msalNetworkClient.js";
import { issuerGet } from "../http/issuerFetch.js";
import type { Logger } from "../logger.js";
import { EntraIdTokenVerifier } from "./entraIdToken.js";
import { ENTRA_SIGNIN_PATH, type EntraSignInConfig } from "./entraSignInConfig.js";
import { EntraSignInError } from "./entraSignInError.js";

/**
 * Reviewers sign in to the review console with Entra ID: the authorization code flow with PKCE, run by
 * msal-node's ConfidentialClientApplication as the server's own app registration (the runtime's
 * credential and authority, so sovereign clouds and the simulator work alike). `begin` makes the
 * authorize URL and the pending sign-in the browser keeps in a cookie; `complete` takes the browser's
 * answer back and returns the reviewer only when the state matches, Entra redeems the code (PKCE
 * verifier, redirect URI), and the ID token passes every check (signature, issuer, audience, tenant,
 * expiry, nonce) and carries the required app role. No token is kept: the reviewer becomes a console
 * session, and msal-node's cache forgets the account.
 */
export interface EntraReviewerSignInOptions {
  config: EntraSignInConfig;
  /** The runtime's token settings: tenant, app, its credential, authority host and extra CA. */
  tokenSettings: TokenProviderSettings;
  logger: Logger;
  /** Milliseconds since the epoch; default Date.now. */
  now?: () => number;
}

export interface EntraSignInStart {
  /** Where to send the browser (302). */
  redirectUrl: string;
  state: string;
  /** Opaque: keep it in the pending cookie (entraPendingCookie.ts) and hand it back to `complete`. */
  pending: string;
  maxAgeSeconds: number;
}

export interface EntraReviewer {
  /** The reviewer's UPN (`preferred_username`): the name decisions are recorded under. */
  reviewer: string;
  /** Entra object id: stable when a UPN changes. */
  oid: string;
  /** Display name, for the page. */
  name: string;
}

export interface EntraReviewerSignIn {
  readonly redirectUri: string;
  /** Whether the pending cookie must be Secure (the console is reached over https). */
  readonly secureCookie: boolean;
  begin(): Promise<EntraSignInStart>;
  /** Throws EntraSignInError; `pending` is the cookie's value (undefined when the browser sent none). */
  complete(query: URLSearchParams, pending: string | undefined): Promise<EntraReviewer>;
  close(): Promise<void>;
}

/** A person types a password within it, so it is not divided by MDE_TIME_SCALE. */
const PENDING_SECONDS = 10 * 60;

const PendingSchema = z.object({
  s: z.string().min(1),
  n: z.string().min(1),
  v: z.string().min(43),
  e: z.number(),
});
type Pending = z.infer<typeof PendingSchema>;

function decodePending(value: string | undefined): Pending | undefined {
  if (value === undefined || !/^[A-Za-z0-9_-]{1,2048}$/.test(value)) return undefined;
  try {
    const parsed = PendingSchema.safeParse(JSON.parse(Buffer.from(value, "base64url").toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The identity platform's own words, first line only, without trace ids or anything unprintable. */
function aadstsSummary(text: string): string {
  const match = /AADSTS(\d+):\s*([^\r\n]*?)(?:\s*Trace ID:|[\r\n]|$)/.exec(text);
  const summary = match ? `AADSTS${match[1]}: ${match[2] ?? ""}` : (text.split(/[\r\n]/)[0] ?? "");
  return summary.replace(/[^\x20-\x7e]/g, "").slice(0, 300);
}

const startAgain = `start again at ${ENTRA_SIGNIN_PATH}`;

export async function createEntraReviewerSignIn(
  options: EntraReviewerSignInOptions,
): Promise<EntraReviewerSignIn> {
  const { config, tokenSettings, logger } = options;
  const now = options.now ?? Date.now;
  const tenantId = tokenSettings.tenantId ?? "";
  const clientId = tokenSettings.clientId ?? "";
  if (!/^[A-Za-z0-9.-]+$/.test(tenantId) || clientId === "") {
    throw new AuthenticationError(
      "AUTH_CONFIG",
      "MDE_REVIEW_ENTRA needs AZURE_TENANT_ID (a tenant id or domain) and AZURE_CLIENT_ID",
    );
  }
  const authorityHost = new URL(tokenSettings.authorityHost).origin;
  const network = new MsalNetworkClient(tokenSettings.ca ? { ca: tokenSettings.ca } : {});
  const credential = await msalCredentialOf(tokenSettings);
  if (credential === undefined) {
    throw new AuthenticationError(
      "AUTH_CONFIG",
      "MDE_REVIEW_ENTRA needs the app registration's own credential (AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE); a managed identity cannot redeem a sign-in code",
    );
  }
  const app = createConfidentialClient({ tenantId, clientId, authorityHost, credential, network, logger });
  const fetcher = issuerGet(tokenSettings.ca);
  const idTokens = new EntraIdTokenVerifier({ authorityHost, tenantId, clientId, get: fetcher.get, now });
  const pkce = new CryptoProvider();
  const { redirectUri, requiredRole } = config;

  if (requiredRole === undefined) {
    logger.warn(
      { tenantId, clientId },
      "MDE_REVIEW_ENTRA_ROLE is not set: every user of the tenant who may sign in to the app registration can approve live response requests; set it, or require user assignment on the enterprise application",
    );
  }

  const unreachable = (what: string): EntraSignInError => {
    const failure = network.lastFailure;
    const why =
      failure?.kind === "unreachable"
        ? failure.reason
        : failure?.kind === "http"
          ? `HTTP ${failure.status}${failure.aadsts ? `, AADSTS${failure.aadsts}` : ""}`
          : "no answer";
    return new EntraSignInError(
      "ENTRA_SIGNIN_UNAVAILABLE",
      `cannot ${what} at ${authorityHost}/${tenantId} (${why}); try again`,
    );
  };

  /** msal-node's failure to redeem a code, in the reviewer's terms; `secrets` are cut from Entra's text. */
  const refused = (err: unknown, secrets: string[]): EntraSignInError => {
    if (err instanceof ServerError) {
      const status = (err as { status?: number }).status;
      const summary = redactKnownSecrets(aadstsSummary(err.errorMessage || err.message), secrets);
      if (
        (status !== undefined && (status >= 500 || status === 429)) ||
        err.errorCode === "temporarily_unavailable"
      ) {
        return new EntraSignInError(
          "ENTRA_SIGNIN_UNAVAILABLE",
          `Entra ID is unavailable (${summary}); try again`,
        );
      }
      return new EntraSignInError(
        "ENTRA_SIGNIN_CODE",
        `Entra ID refused to redeem the sign-in code (${summary}); ${startAgain}`,
      );
    }
    const code = err instanceof AuthError ? err.errorCode : undefined;
    if (code === "nonce_mismatch") {
      return new EntraSignInError(
        "ENTRA_SIGNIN_TOKEN",
        `the ID token from Entra ID was refused: its nonce is not the one of the sign-in this browser started; ${startAgain}`,
      );
    }
    if (code === "state_mismatch" || code === "state_not_found") {
      return new EntraSignInError(
        "ENTRA_SIGNIN_STATE",
        `the sign-in answer does not belong to the sign-in this browser started; ${startAgain}`,
      );
    }
    // Anything else from msal-node here is the network or discovery (network_error, openid_config_error).
    return unreachable("redeem the sign-in code");
  };

  return {
    redirectUri,
    secureCookie: redirectUri.startsWith("https://"),

    async begin() {
      const state = randomBytes(32).toString("base64url");
      const nonce = randomBytes(32).toString("base64url");
      const { verifier, challenge } = await pkce.generatePkceCodes();
      let redirectUrl: string;
      try {
        redirectUrl = await app.getAuthCodeUrl({
          scopes: [],
          redirectUri,
          state,
          nonce,
          codeChallenge: challenge,
          codeChallengeMethod: "S256",
          responseMode: ResponseMode.QUERY,
          prompt: "select_account",
        });
      } catch {
        throw unreachable("read the OpenID configuration");
      }
      const pending: Pending = { s: state, n: nonce, v: verifier, e: now() + PENDING_SECONDS * 1000 };
      return {
        redirectUrl,
        state,
        pending: Buffer.from(JSON.stringify(pending)).toString("base64url"),
        maxAgeSeconds: PENDING_SECONDS,
      };
    },

    async complete(query, pendingValue) {
      try {
        const reviewer = await completeSignIn(query, pendingValue);
        logger.info({ reviewer: reviewer.reviewer, oid: reviewer.oid }, "reviewer signed in with Entra ID");
        return reviewer;
      } catch (err) {
        if (err instanceof EntraSignInError) {
          logger.warn({ code: err.code, reason: err.message }, "reviewer sign-in with Entra ID refused");
        }
        throw err;
      }
    },

    close: () => fetcher.close(),
  };

  async function completeSignIn(
    query: URLSearchParams,
    pendingValue: string | undefined,
  ): Promise<EntraReviewer> {
    const pending = decodePending(pendingValue);
    if (!pending || pending.e <= now()) {
      throw new EntraSignInError(
        "ENTRA_SIGNIN_STATE",
        `no sign-in is in progress in this browser (its cookie is missing or expired after ${PENDING_SECONDS / 60} minutes); ${startAgain}`,
      );
    }
    const state = query.get("state");
    if (state === null || !same(state, pending.s)) {
      throw new EntraSignInError(
        "ENTRA_SIGNIN_STATE",
        `the sign-in answer does not belong to the sign-in this browser started (state mismatch); ${startAgain}`,
      );
    }
    const error = query.get("error");
    if (error !== null) {
      const description = aadstsSummary(query.get("error_description") ?? "");
      throw new EntraSignInError(
        "ENTRA_SIGNIN_DENIED",
        `Entra ID did not sign the reviewer in: ${error.replace(/[^a-z_]/g, "").slice(0, 60)}${description ? ` (${description})` : ""}; ${startAgain}`,
      );
    }
    const code = query.get("code");
    if (code === null || code === "") {
      throw new EntraSignInError("ENTRA_SIGNIN_STATE", `the sign-in answer carries no code; ${startAgain}`);
    }
    let result: AuthenticationResult;
    try {
      result = await app.acquireTokenByCode(
        { code, scopes: [], redirectUri, codeVerifier: pending.v, state: pending.s, nonce: pending.n },
        { code, state },
      );
    } catch (err) {
      throw refused(err, [tokenSettings.clientSecret ?? "", code, pending.v]);
    }
    // Nothing of the reviewer's is kept: the console session is the only trace of the sign-in.
    if (result.account) await app.getTokenCache().removeAccount(result.account);
    const claims = await idTokens.verify(result.idToken, pending.n);
    const reviewer = claims.preferred_username;
    if (reviewer === undefined) {
      throw new EntraSignInError(
        "ENTRA_SIGNIN_TOKEN",
        "the ID token from Entra ID names no user (preferred_username); sign in again",
      );
    }
    if (requiredRole !== undefined && !claims.roles.includes(requiredRole)) {
      throw new EntraSignInError(
        "ENTRA_SIGNIN_ROLE",
        `${reviewer} signed in but is not assigned the app role ${requiredRole} of app registration ${clientId}, which the review console requires: ask an administrator to assign it (Enterprise applications > Users and groups)`,
      );
    }
    return { reviewer, oid: claims.oid, name: claims.name ?? reviewer };
  }
}
