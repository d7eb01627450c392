import { createHash, randomBytes, randomUUID } from "node:crypto";
import { entraError, missingParameter, type EntraError } from "./entraError.js";
import { redirectUriMatches } from "./redirectUri.js";
import type { AppRegistration } from "./scenario.js";
import { signInErrorHtml, signInFormHtml } from "./signInPage.js";
import { clientInfo, shown, userWithPassword, type TenantUser } from "./userTokens.js";

/**
 * The authorization code flow as Entra runs it for a web app: the authorize endpoint checks the
 * client and its redirect URI (a mistake there is shown as a page, never redirected, since the URI
 * is not trusted), shows a sign-in form, and on a good password sends the browser back with a
 * single-use code bound to the client, the redirect URI, the nonce and the PKCE challenge, which the
 * token endpoint then redeems. Errors after the redirect URI is trusted go back to it as `error` and
 * `error_description`, with the request's `state`.
 */
export type BrowserReply = { status: number; html: string } | { status: 302; location: string };

export interface RedeemedCode {
  user: TenantUser;
  /** The authorize request's scopes, which the tokens are issued for. */
  scope: string;
  nonce: string | undefined;
}

export interface AuthorizationCodesOptions {
  tenantId: string;
  app(clientId: string): AppRegistration | undefined;
  users: readonly TenantUser[];
  nowMs(): number;
  /** Divides the code's lifetime; the sign-in page's is not scaled, since a person types in it. */
  timeScale: number;
}

/** Entra's codes live "about 10 minutes". */
const CODE_LIFETIME_MS = 10 * 60_000;
const SIGN_IN_LIFETIME_MS = 15 * 60_000;
/** Bounds memory against a client that starts flows and never finishes them. */
const MAX_PENDING = 10_000;
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scope: string;
  state: string | null;
  nonce: string | null;
  challenge: { value: string; method: "S256" | "plain" } | undefined;
  responseMode: "query" | "fragment";
  clientInfo: boolean;
  loginHint: string | undefined;
}

interface PendingSignIn {
  request: AuthorizationRequest;
  expiresAt: number;
}

interface IssuedCode {
  request: AuthorizationRequest;
  user: TenantUser;
  expiresAt: number;
  redeemed: boolean;
}

function errorPage(status: number, code: string, aadsts: number, message: string): BrowserReply {
  return { status, html: signInErrorHtml(code, aadsts, message) };
}

const errorPageOf = (e: EntraError): BrowserReply => errorPage(e.status, e.error, e.aadsts, e.message);

function remember<T extends { expiresAt: number }>(map: Map<string, T>, key: string, value: T, now: number) {
  for (const [k, v] of map) if (v.expiresAt <= now) map.delete(k);
  // Oldest first: a Map iterates in insertion order.
  while (map.size >= MAX_PENDING) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

function pkceMatches(challenge: NonNullable<AuthorizationRequest["challenge"]>, verifier: string): boolean {
  const derived =
    challenge.method === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
  return derived === challenge.value;
}

export class AuthorizationCodes {
  private readonly signIns = new Map<string, PendingSignIn>();
  private readonly codes = new Map<string, IssuedCode>();

  constructor(private readonly options: AuthorizationCodesOptions) {}

  /** GET /{tenant}/oauth2/v2.0/authorize: the sign-in form, or why not. */
  authorize(query: URLSearchParams, loginPath: string): BrowserReply {
    const clientId = query.get("client_id");
    if (clientId === null) return errorPageOf(missingParameter("client_id"));
    const app = this.options.app(clientId);
    if (!app) {
      return errorPage(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${shown(clientId)}' was not found in the directory '${this.options.tenantId}'.`,
      );
    }
    const redirectUri = query.get("redirect_uri");
    if (redirectUri === null || !redirectUriMatches(app.redirectUris ?? [], redirectUri)) {
      return errorPage(
        400,
        "invalid_request",
        50011,
        `The redirect URI '${shown(redirectUri ?? "")}' specified in the request does not match the redirect URIs configured for the application '${app.clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
      );
    }
    const state = query.get("state");
    const modeGiven = query.get("response_mode") ?? "query";
    const responseMode = modeGiven === "fragment" ? "fragment" : "query";
    const fail = (error: string, aadsts: number, message: string): BrowserReply =>
      this.redirect(
        { redirectUri, state, responseMode },
        { error, error_description: `AADSTS${aadsts}: ${message}` },
      );
    const missing = (name: string): BrowserReply => {
      const e = missingParameter(name);
      return fail(e.error, e.aadsts, e.message);
    };

    if (modeGiven !== "query" && modeGiven !== "fragment") {
      return fail(
        "invalid_request",
        900144,
        `The response_mode '${shown(modeGiven)}' is not supported by the simulator: use query or fragment.`,
      );
    }
    const responseType = query.get("response_type");
    if (responseType === null) {
      return missing("response_type");
    }
    if (responseType !== "code") {
      return fail(
        "unsupported_response_type",
        700051,
        `response_type '${shown(responseType)}' is not enabled for the application.`,
      );
    }
    const scope = query.get("scope");
    if (scope === null || scope.trim() === "") {
      return missing("scope");
    }
    const challengeValue = query.get("code_challenge");
    const method = query.get("code_challenge_method") ?? (challengeValue === null ? null : "plain");
    if (challengeValue === null && method !== null) {
      return missing("code_challenge");
    }
    if (method !== null && method !== "S256" && method !== "plain") {
      return fail("invalid_request", 501491, `Invalid code_challenge_method '${shown(method)}': use S256.`);
    }
    if (challengeValue !== null && !PKCE_VALUE.test(challengeValue)) {
      return fail(
        "invalid_request",
        501491,
        "The code_challenge is not 43 to 128 characters of [A-Za-z0-9-._~].",
      );
    }
    // The simulator keeps no browser session, so a silent request always needs the user.
    if (query.get("prompt") === "none") {
      return fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.");
    }

    const request: AuthorizationRequest = {
      clientId: app.clientId,
      redirectUri,
      scope,
      state,
      nonce: query.get("nonce"),
      challenge:
        challengeValue === null
          ? undefined
          : { value: challengeValue, method: method === "S256" ? "S256" : "plain" },
      responseMode,
      clientInfo: query.get("client_info") === "1",
      loginHint: query.get("login_hint") ?? undefined,
    };
    const now = this.options.nowMs();
    const flowToken = randomBytes(32).toString("base64url");
    remember(this.signIns, flowToken, { request, expiresAt: now + SIGN_IN_LIFETIME_MS }, now);
    return { status: 200, html: this.form(loginPath, flowToken, request) };
  }

  /** POST /{tenant}/login: the form's answer; a wrong password shows the form again, as Entra does. */
  signIn(form: URLSearchParams, loginPath: string): BrowserReply {
    const flowToken = form.get("flowToken") ?? "";
    const pending = this.signIns.get(flowToken);
    if (!pending || pending.expiresAt <= this.options.nowMs()) {
      this.signIns.delete(flowToken);
      return errorPage(
        400,
        "invalid_request",
        50089,
        "Authentication failed due to flow token expired. Start the sign-in again.",
      );
    }
    const { request } = pending;
    if (form.get("action") === "cancel") {
      this.signIns.delete(flowToken);
      return this.redirect(request, {
        error: "access_denied",
        error_subcode: "cancel",
        error_description: "AADSTS65004: User declined to consent to access the app.",
      });
    }
    const user = userWithPassword(this.options.users, form.get("login") ?? "", form.get("passwd") ?? "");
    if (!user) {
      return {
        status: 200,
        html: this.form(loginPath, flowToken, request, "Your account or password is incorrect."),
      };
    }
    this.signIns.delete(flowToken);
    const now = this.options.nowMs();
    const code = randomBytes(48).toString("base64url");
    remember(
      this.codes,
      code,
      {
        request,
        user,
        expiresAt: now + CODE_LIFETIME_MS / this.options.timeScale,
        redeemed: false,
      },
      now,
    );
    return this.redirect(request, {
      code,
      session_state: randomUUID(),
      ...(request.clientInfo ? { client_info: clientInfo(user, this.options.tenantId) } : {}),
    });
  }

  /**
   * The token endpoint's `authorization_code` grant, after the client proved itself. Any attempt
   * spends the code, so a stolen one cannot be tried again with other guesses.
   */
  redeem(params: URLSearchParams, app: AppRegistration): RedeemedCode | EntraError {
    const code = params.get("code");
    if (code === null) return missingParameter("code");
    const issued = this.codes.get(code);
    if (!issued) {
      return entraError(
        400,
        "invalid_grant",
        70000,
        "The provided value for the 'code' parameter is not valid.",
      );
    }
    if (issued.redeemed) {
      return entraError(
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
      );
    }
    issued.redeemed = true;
    if (issued.expiresAt <= this.options.nowMs()) {
      return entraError(
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
      );
    }
    const { request } = issued;
    if (request.clientId.toLowerCase() !== app.clientId.toLowerCase()) {
      return entraError(
        400,
        "invalid_grant",
        70000,
        "The provided value for the 'code' parameter is not valid. The code was issued to a different client.",
      );
    }
    const redirectUri = params.get("redirect_uri");
    if (redirectUri === null) return missingParameter("redirect_uri");
    if (redirectUri !== request.redirectUri) {
      return entraError(
        400,
        "invalid_grant",
        500112,
        "The reply address does not match the reply address provided when requesting the authorization code.",
      );
    }
    if (request.challenge) {
      const verifier = params.get("code_verifier");
      if (verifier === null) return missingParameter("code_verifier");
      if (!PKCE_VALUE.test(verifier) || !pkceMatches(request.challenge, verifier)) {
        return entraError(
          400,
          "invalid_grant",
          50148,
          "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
        );
      }
    }
    return { user: issued.user, scope: request.scope, nonce: request.nonce ?? undefined };
  }

  private form(loginPath: string, flowToken: string, request: AuthorizationRequest, error?: string): string {
    const app = this.options.app(request.clientId);
    return signInFormHtml({
      action: loginPath,
      flowToken,
      appName: app?.displayName ?? request.clientId,
      ...(request.loginHint === undefined ? {} : { loginHint: request.loginHint }),
      ...(error === undefined ? {} : { error }),
    });
  }

  private redirect(
    to: Pick<AuthorizationRequest, "redirectUri" | "state" | "responseMode">,
    fields: Record<string, string>,
  ): BrowserReply {
    const params = new URLSearchParams(fields);
    if (to.state !== null) params.set("state", to.state);
    const url = new URL(to.redirectUri);
    if (to.responseMode === "fragment") {
      url.hash = params.toString();
    } else {
      for (const [k, v] of params) url.searchParams.append(k, v);
    }
    return { status: 302, location: url.toString() };
  }
}

/** Whether a request's scopes ask for an ID token. */
export function asksForIdToken(scope: string): boolean {
  return scope.split(/\s+/).includes("openid");
}
