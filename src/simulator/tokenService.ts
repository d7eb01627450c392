import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  type KeyObject,
} from "node:crypto";
import type http from "node:http";
import { z } from "zod";
import { asksForIdToken, AuthorizationCodes, type BrowserReply } from "./authorizationCodes.js";
import { checkClientAssertion } from "./clientAssertion.js";
import { entraError, entraErrorReply, missingParameter, type EntraError } from "./entraError.js";
import { BodyTooLargeError, readBody, writeJson, writeText, type JsonReply } from "./httpUtil.js";
import { decodeJwt, signJwtRs256, verifyJwtSignature, type DecodedJwt } from "./jwt.js";
import { sameSecret } from "./sameSecret.js";
import type { AppRegistration, ScenarioUser } from "./scenario.js";
import { signInErrorHtml } from "./signInPage.js";
import {
  audiencesOf,
  clientInfo,
  grantedScopes,
  invalidAssertion,
  invalidCredentials,
  objectIdFor,
  OIDC_SCOPES,
  parseScopeRequest,
  shown,
  tenantUsers,
  userWithPassword,
  type TenantUser,
} from "./userTokens.js";

/**
 * An Entra-like token endpoint that real msal-node accepts as its authority: OpenID configuration,
 * instance discovery, signing keys, and on the v2 and v1 token endpoints the client-credentials
 * grant (client secret or certificate-signed client assertion), user tokens through the resource
 * owner password grant (test-only: scenario users have passwords), the On-Behalf-Of grant that
 * trades a user's token for this tenant's API (e.g. the MCP server's) for a token for another
 * resource (Defender) for the same user, and a web app's sign-in: the authorization code flow with
 * PKCE (the authorize endpoint's sign-in form, then the `authorization_code` grant with an ID token).
 * The simulated API checks the bearer tokens it issues with `verifyBearer`.
 */
export interface TokenServiceOptions {
  tenantId: string;
  apps: AppRegistration[];
  /** The tenant's users, for delegated tokens. */
  users?: readonly ScenarioUser[];
  /**
   * Whether a resource is the Defender API (its tokens carry the user's Defender scopes); the token
   * service knows the API's audiences only through this.
   */
  isDefenderResource?: (resource: string) => boolean;
  /** e.g. "https://localhost:43123" — the authority host; called lazily because the port is known after listen. */
  authorityHost: () => string;
  /** access tokens' lifetime in real seconds (default 3599); NOT divided by time scale: MSAL's fixed 300 s renewal offset would otherwise make every call refresh. */
  tokenLifetimeSeconds?: number;
  /** fault hook: when true, the token endpoint answers 503 with an AADSTS-style JSON error body. */
  isDown?: () => boolean;
  /** Milliseconds since the epoch; token times are real time, so this defaults to Date.now. */
  now?: () => number;
  /** RSA signing key; Entra signs every tenant's tokens with the same keys, so services may share one. Default: a fresh key. */
  signingKey?: KeyObject;
  /** Divides the authorization code's lifetime (default 1); token lifetimes are not scaled (see tokenLifetimeSeconds). */
  timeScale?: number;
}

export interface VerifiedCaller {
  appId: string;
  displayName: string;
  roles: string[];
  tenantId: string;
  /** The token's `aud`: the resource it was requested for. */
  audience: string;
  /** A delegated token's user (the app acts for them); undefined for an app-only token. */
  user?: DelegatedUser;
}

/** The person a delegated token acts for, as the tenant knows them now (RBAC is looked up, not carried). */
export interface DelegatedUser {
  upn: string;
  oid: string;
  /** The token's `scp`. */
  scopes: string[];
  deviceGroups: ScenarioUser["deviceGroups"];
}

export type BearerCheck = { ok: true; caller: VerifiedCaller } | { ok: false; reason: string };

export interface TokenService {
  /** Handles the request if it is one of the token service's paths; returns false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean>;
  /** Checks an `Authorization` header value: Bearer, signature (our key), expiry, tenant. */
  verifyBearer(authorization: string | undefined): BearerCheck;
  /** Adds an app at run time (tests register certificate apps this way). */
  registerApp(app: AppRegistration): void;
  /** How many tokens were issued, and how many token requests were refused. */
  counts(): { issued: number; refused: number };
  /**
   * The access tokens issued since start, oldest first (at most the latest MAX_KEPT_TOKENS): a test
   * searches logs and results for them, so that a leaked token is found by its value.
   */
  issuedTokens(): readonly string[];
}

/** A client renews its token about once an hour, so this covers any test run and stays small in a long-running simulator. */
const MAX_KEPT_TOKENS = 1_000;
const NO_STORE = { "cache-control": "no-store, no-cache", pragma: "no-cache" };
/** What Entra issues an access token for when a sign-in asks only for OpenID scopes. */
const GRAPH = "https://graph.microsoft.com";

const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const MAX_TOKEN_REQUEST_BYTES = 64 * 1024;
const EXPIRED = "the token has expired";
const NOT_YET_VALID = "the token is not valid yet";

const AccessTokenClaimsSchema = z.looseObject({
  aud: z.string(),
  iss: z.string(),
  tid: z.string(),
  appid: z.string(),
  app_displayname: z.string(),
  roles: z.array(z.string()).default([]),
  nbf: z.number(),
  exp: z.number(),
  oid: z.string().optional(),
  /** Present on delegated tokens only: the permissions the app has for the user. */
  scp: z.string().optional(),
  idtyp: z.string().optional(),
});
type AccessTokenClaims = z.infer<typeof AccessTokenClaimsSchema>;

function tenantNotFound(tenant: string): EntraError {
  return entraError(
    400,
    "invalid_tenant",
    90002,
    `Tenant '${shown(tenant)}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
  );
}

function invalidSecret(clientId: string): EntraError {
  return entraError(
    401,
    "invalid_client",
    7000215,
    `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
  );
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}

/** The resource a v2 `scope` asks for: exactly one `<https resource>/.default`. */
function resourceFromScope(scope: string): string | EntraError {
  const scopes = scope.split(/\s+/).filter((s) => s !== "" && !OIDC_SCOPES.has(s));
  const only = scopes.length === 1 ? scopes[0] : undefined;
  if (only === undefined || !only.endsWith("/.default")) {
    return entraError(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${shown(scope)} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  return only.slice(0, -"/.default".length);
}

function resourceNotFound(resource: string, tenantId: string): EntraError {
  return entraError(
    400,
    "invalid_resource",
    500011,
    `The resource principal named ${shown(resource)} was not found in the tenant named ${tenantId}.`,
  );
}

function missingAssertionUse(): EntraError {
  return entraError(
    400,
    "invalid_request",
    900144,
    "The request body must contain the following parameter: 'requested_token_use' with the value 'on_behalf_of'.",
  );
}

export function createTokenService(options: TokenServiceOptions): TokenService {
  const tenantId = options.tenantId.toLowerCase();
  const lifetime = options.tokenLifetimeSeconds ?? 3599;
  const nowMs = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(nowMs() / 1000);
  const host = () => options.authorityHost().replace(/\/+$/, "");
  const hostAndPort = () => new URL(host()).host;
  const issuerV1 = `https://sts.windows.net/${tenantId}/`;

  const privateKey = options.signingKey ?? generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const publicKey = createPublicKey(privateKey);
  const kid = createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("base64url")
    .slice(0, 27);

  const apps = new Map<string, AppRegistration>();
  const registerApp = (app: AppRegistration) => apps.set(app.clientId.toLowerCase(), app);
  options.apps.forEach(registerApp);
  const users = tenantUsers(tenantId, options.users ?? []);
  const codes = new AuthorizationCodes({
    tenantId,
    app: (clientId) => apps.get(clientId.toLowerCase()),
    users,
    nowMs,
    timeScale: options.timeScale ?? 1,
  });

  /** The app a resource names: its client id or one of its Application ID URIs. */
  const appForResource = (resource: string): AppRegistration | undefined => {
    const wanted = resource.replace(/\/+$/, "").toLowerCase();
    return [...apps.values()].find((a) => audiencesOf(a).includes(wanted));
  };

  /** Any https resource (Defender, Graph…) exists; an api:// one only as one of this tenant's apps. */
  const checkResource = (resource: string): EntraError | undefined =>
    isHttpsUrl(resource) || appForResource(resource) ? undefined : resourceNotFound(resource, tenantId);

  /** A token this tenant signed and that is valid now; else why not. */
  const checkSignedToken = (jwt: DecodedJwt): AccessTokenClaims | string => {
    if (jwt.header.alg !== "RS256" || jwt.header.kid !== kid || !verifyJwtSignature(jwt, publicKey)) {
      return "the token's signature is invalid";
    }
    const claims = AccessTokenClaimsSchema.safeParse(jwt.payload);
    if (!claims.success) return "the token lacks required claims";
    const c = claims.data;
    if (c.tid.toLowerCase() !== tenantId || c.iss !== issuerV1)
      return "the token was issued for another tenant";
    const now = nowSeconds();
    if (c.exp <= now) return EXPIRED;
    if (c.nbf > now) return NOT_YET_VALID;
    return c;
  };

  let issued = 0;
  let refused = 0;
  const issuedTokens: string[] = [];

  /**
   * Documents name the host the client used (localhost or 127.0.0.1 reach the same simulator), since
   * msal-node rejects an OpenID configuration whose issuer is on another host than its authority.
   */
  const originOf = (req: http.IncomingMessage) => {
    const given = req.headers.host;
    return given && /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$/.test(given)
      ? `https://${given}`
      : host();
  };

  const isOurTenant = (tenant: string) => tenant.toLowerCase() === tenantId;

  function openIdConfigurationV2(origin: string): unknown {
    const base = `${origin}/${tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles"],
      tenant_region_scope: "NA",
      cloud_instance_name: new URL(origin).hostname,
    };
  }

  function openIdConfigurationV1(origin: string): unknown {
    const base = `${origin}/${tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${base}/discovery/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "token id_token", "token"],
      scopes_supported: ["openid"],
      issuer: issuerV1,
      authorization_endpoint: `${base}/oauth2/authorize`,
      end_session_endpoint: `${base}/oauth2/logout`,
      tenant_region_scope: "NA",
      cloud_instance_name: new URL(origin).hostname,
    };
  }

  function keys(): unknown {
    const jwk = publicKey.export({ format: "jwk" });
    return { keys: [{ kty: "RSA", use: "sig", alg: "RS256", kid, n: jwk.n, e: jwk.e, issuer: issuerV1 }] };
  }

  function instanceDiscovery(url: URL, origin: string): JsonReply | EntraError {
    const endpoint = url.searchParams.get("authorization_endpoint");
    if (!endpoint) return missingParameter("authorization_endpoint");
    let authorize: URL;
    try {
      authorize = new URL(endpoint);
    } catch {
      return entraError(400, "invalid_instance", 50049, "Unknown or invalid instance.");
    }
    if (authorize.protocol !== "https:" || ![hostAndPort(), new URL(origin).host].includes(authorize.host)) {
      return entraError(400, "invalid_instance", 50049, "Unknown or invalid instance.");
    }
    const tenant = authorize.pathname.split("/").find((s) => s !== "") ?? "common";
    const here = authorize.host;
    return {
      status: 200,
      body: {
        tenant_discovery_endpoint: `${authorize.origin}/${tenant}/v2.0/.well-known/openid-configuration`,
        "api-version": "1.1",
        metadata: [{ preferred_network: here, preferred_cache: here, aliases: [here] }],
      },
    };
  }

  /** The claims every access token of this tenant carries, signed with the caller's own. */
  function signAccessToken(
    app: AppRegistration,
    resource: string,
    appidacr: string,
    claims: Record<string, unknown>,
  ): string {
    const iat = nowSeconds();
    return signJwtRs256(
      { typ: "JWT", kid },
      {
        aud: resource,
        iss: issuerV1,
        iat,
        nbf: iat,
        exp: iat + lifetime,
        app_displayname: app.displayName,
        appid: app.clientId,
        appidacr,
        idp: issuerV1,
        tid: tenantId,
        uti: randomBytes(16).toString("base64url"),
        ver: "1.0",
        ...claims,
      },
      privateKey,
    );
  }

  function issueAccessToken(app: AppRegistration, resource: string, certificateCredential: boolean): string {
    const oid = objectIdFor(tenantId, app.clientId);
    return signAccessToken(app, resource, certificateCredential ? "2" : "1", {
      idtyp: "app",
      oid,
      roles: app.roles,
      sub: oid,
    });
  }

  /** Authenticates the client; returns the app and how it proved itself, or the error. */
  function authenticate(
    params: URLSearchParams,
    app: AppRegistration,
    acceptedAudiences: string[],
  ): { certificate: boolean } | EntraError {
    const secret = params.get("client_secret");
    const assertion = params.get("client_assertion");
    if ((secret === null) === (assertion === null)) {
      return entraError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain exactly one of the following parameters: 'client_assertion' or 'client_secret'.",
      );
    }
    if (secret !== null) {
      const ok = app.clientSecret !== undefined && sameSecret(secret, app.clientSecret);
      return ok ? { certificate: false } : invalidSecret(app.clientId);
    }
    const assertionType = params.get("client_assertion_type");
    if (assertionType === null) return missingParameter("client_assertion_type");
    if (assertionType !== CLIENT_ASSERTION_TYPE) {
      return entraError(
        400,
        "invalid_request",
        50027,
        `'client_assertion_type' must be '${CLIENT_ASSERTION_TYPE}'.`,
      );
    }
    const failure = checkClientAssertion({
      assertion: assertion ?? "",
      clientId: app.clientId,
      certificatesPem: app.certificatesPem,
      acceptedAudiences,
      nowSeconds: nowSeconds(),
    });
    return failure ?? { certificate: true };
  }

  async function tokenRequest(
    req: http.IncomingMessage,
    url: URL,
    tenant: string,
    version: "v1" | "v2",
  ): Promise<JsonReply | EntraError> {
    if (req.method !== "POST") {
      return entraError(
        400,
        "invalid_request",
        900561,
        `The endpoint only accepts POST requests. Received a ${shown(req.method ?? "")} request.`,
      );
    }
    if (!isOurTenant(tenant)) return tenantNotFound(tenant);

    let body: Buffer;
    try {
      body = await readBody(req, MAX_TOKEN_REQUEST_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return entraError(400, "invalid_request", 90015, "The request body is too large.");
      }
      throw err;
    }
    const isForm = (req.headers["content-type"] ?? "").includes("application/x-www-form-urlencoded");
    const params = new URLSearchParams(isForm ? body.toString("utf8") : "");

    const grantType = params.get("grant_type");
    if (grantType === null) return missingParameter("grant_type");
    if (!["client_credentials", "password", "authorization_code", JWT_BEARER_GRANT].includes(grantType)) {
      return entraError(
        400,
        "unsupported_grant_type",
        70003,
        `The app requested an unsupported grant type '${shown(grantType)}'.`,
      );
    }
    const clientId = params.get("client_id");
    if (clientId === null) return missingParameter("client_id");
    if (grantType === "authorization_code") {
      if (version !== "v2") {
        return entraError(
          400,
          "unsupported_grant_type",
          70003,
          "The simulator redeems authorization codes at the v2.0 token endpoint only.",
        );
      }
      if (params.get("scope") === null) return missingParameter("scope");
      const client = authenticatedClient(req, url, tenant, params, clientId, grantType);
      return "status" in client ? client : codeGrant(req, params, client.app, client.appidacr);
    }

    let resource: string;
    let scopeNames: string[] = [];
    if (version === "v2") {
      const scope = params.get("scope");
      if (scope === null) return missingParameter("scope");
      if (grantType === "client_credentials") {
        const fromScope = resourceFromScope(scope);
        if (typeof fromScope !== "string") return fromScope;
        resource = fromScope;
      } else {
        const asked = parseScopeRequest(scope);
        if ("status" in asked) return asked;
        ({ resource, names: scopeNames } = asked);
      }
    } else {
      const given = params.get("resource");
      if (given === null) return missingParameter("resource");
      resource = given;
    }
    resource = resource.replace(/\/+$/, "");
    const resourceError = checkResource(resource);
    if (resourceError) return resourceError;

    const client = authenticatedClient(req, url, tenant, params, clientId, grantType);
    if ("status" in client) return client;
    const { app, appidacr } = client;

    let accessToken: string;
    let delegated: { user: TenantUser; scp: string[] } | undefined;
    if (grantType === "client_credentials") {
      accessToken = issueAccessToken(app, resource, appidacr === "2");
    } else {
      const user = grantType === "password" ? passwordUser(params) : assertionUser(params, app);
      if ("status" in user) return user;
      const grant = userGrant(user, resource, scopeNames);
      if ("status" in grant) return grant;
      accessToken = issueUserToken(app, appidacr, user, resource, grant);
      delegated = { user, scp: grant.scp };
    }
    recordIssued(accessToken);
    // A user's token names what it grants, and MSAL keys its cache of user tokens by client_info.
    const userFields = delegated
      ? {
          // With the `.default` that was asked for: MSAL finds a cached token by the scopes it asked for.
          scope: [...delegated.scp, ...(scopeNames.length === 0 ? [".default"] : [])]
            .map((name) => `${resource}/${name}`)
            .join(" "),
          ...(params.get("client_info") === "1" ? { client_info: clientInfo(delegated.user, tenantId) } : {}),
        }
      : {};
    if (version === "v2") {
      return {
        status: 200,
        headers: NO_STORE,
        body: {
          token_type: "Bearer",
          ...userFields,
          expires_in: lifetime,
          ext_expires_in: lifetime,
          access_token: accessToken,
        },
      };
    }
    // The v1 endpoint answers numbers as strings and names the resource.
    const now = nowSeconds();
    return {
      status: 200,
      headers: NO_STORE,
      body: {
        token_type: "Bearer",
        ...userFields,
        expires_in: String(lifetime),
        ext_expires_in: String(lifetime),
        expires_on: String(now + lifetime),
        not_before: String(now),
        resource,
        access_token: accessToken,
      },
    };
  }

  /** Resource owner password credentials: the scenario user whose UPN and password these are. */
  function passwordUser(params: URLSearchParams): TenantUser | EntraError {
    const username = params.get("username");
    if (username === null) return missingParameter("username");
    const password = params.get("password");
    if (password === null) return missingParameter("password");
    return userWithPassword(users, username, password) ?? invalidCredentials();
  }

  function recordIssued(accessToken: string): void {
    issued += 1;
    issuedTokens.push(accessToken);
    if (issuedTokens.length > MAX_KEPT_TOKENS) issuedTokens.shift();
  }

  /**
   * The app a token request names, once it proved itself. A public client proves nothing (it runs on
   * a user's machine), so it may only ask for a user's tokens, which the user's own sign-in vouches for.
   */
  function authenticatedClient(
    req: http.IncomingMessage,
    url: URL,
    tenant: string,
    params: URLSearchParams,
    clientId: string,
    grantType: string,
  ): { app: AppRegistration; appidacr: string } | EntraError {
    const app = apps.get(clientId.toLowerCase());
    if (!app) {
      return entraError(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${shown(clientId)}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    if (app.publicClient && (grantType === "password" || grantType === "authorization_code")) {
      return { app, appidacr: "0" };
    }
    const origins = [...new Set([host(), originOf(req)])];
    const endpoints = [url.pathname, `/${tenant}/oauth2/v2.0/token`, `/${tenant}/oauth2/token`];
    const acceptedAudiences = [...new Set(endpoints.flatMap((p) => origins.map((o) => `${o}${p}`)))];
    const auth = authenticate(params, app, acceptedAudiences);
    if ("status" in auth) return auth;
    return { app, appidacr: auth.certificate ? "2" : "1" };
  }

  /**
   * A web app redeems the code its user's browser brought back: an access token for the resource the
   * authorize request named (Microsoft Graph when it named only OpenID scopes, as Entra does), and
   * an ID token for the app itself. No refresh token: the simulator has no refresh grant.
   */
  function codeGrant(
    req: http.IncomingMessage,
    params: URLSearchParams,
    app: AppRegistration,
    appidacr: string,
  ): JsonReply | EntraError {
    const redeemed = codes.redeem(params, app);
    if ("status" in redeemed) return redeemed;
    const { user, scope, nonce } = redeemed;
    const oidc = scope.split(/\s+/).filter((s) => OIDC_SCOPES.has(s));
    let resource = GRAPH;
    let grant: { scp: string[]; roles: string[] } = { scp: ["User.Read", ...oidc], roles: [] };
    if (scope.split(/\s+/).some((s) => s !== "" && !OIDC_SCOPES.has(s))) {
      const asked = parseScopeRequest(scope);
      if ("status" in asked) return asked;
      resource = asked.resource;
      const granted = userGrant(user, resource, asked.names);
      if ("status" in granted) return granted;
      grant = granted;
    }
    const accessToken = issueUserToken(app, appidacr, user, resource, grant);
    recordIssued(accessToken);
    return {
      status: 200,
      headers: NO_STORE,
      body: {
        token_type: "Bearer",
        scope: grant.scp.map((name) => (OIDC_SCOPES.has(name) ? name : `${resource}/${name}`)).join(" "),
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: accessToken,
        ...(asksForIdToken(scope) ? { id_token: issueIdToken(originOf(req), app, user, nonce) } : {}),
        ...(params.get("client_info") === "1" ? { client_info: clientInfo(user, tenantId) } : {}),
      },
    };
  }

  /** A v2.0 ID token: who signed in to `app`, with the authorize request's nonce and the user's app roles. */
  function issueIdToken(
    origin: string,
    app: AppRegistration,
    user: TenantUser,
    nonce: string | undefined,
  ): string {
    const iat = nowSeconds();
    return signJwtRs256(
      { typ: "JWT", kid },
      {
        aud: app.clientId,
        iss: `${origin}/${tenantId}/v2.0`,
        iat,
        nbf: iat,
        exp: iat + lifetime,
        name: user.displayName ?? user.upn,
        ...(nonce === undefined ? {} : { nonce }),
        oid: user.oid,
        preferred_username: user.upn,
        rh: randomBytes(24).toString("base64url"),
        ...(user.roles.length > 0 ? { roles: user.roles } : {}),
        sid: randomUUID(),
        sub: objectIdFor(tenantId, `${user.oid}/${app.clientId}`),
        tid: tenantId,
        uti: randomBytes(16).toString("base64url"),
        ver: "2.0",
      },
      privateKey,
    );
  }

  /**
   * On-Behalf-Of: the assertion must be a user's token that this tenant signed, still valid, and
   * issued to the app now presenting it (its `aud` names that app), as Entra checks it.
   */
  function assertionUser(params: URLSearchParams, app: AppRegistration): TenantUser | EntraError {
    if (params.get("requested_token_use") !== "on_behalf_of") return missingAssertionUse();
    const assertion = params.get("assertion");
    if (assertion === null) return missingParameter("assertion");
    const jwt = decodeJwt(assertion);
    if (!jwt) return invalidAssertion("the assertion is not a JWT");
    const checked = checkSignedToken(jwt);
    if (checked === EXPIRED || checked === NOT_YET_VALID) {
      return entraError(400, "invalid_grant", 500133, "Assertion is not within its valid time range.");
    }
    if (typeof checked === "string") return invalidAssertion(checked);
    if (!audiencesOf(app).includes(checked.aud.replace(/\/+$/, "").toLowerCase())) {
      return invalidAssertion(
        "the assertion's audience does not match the client app presenting the assertion",
      );
    }
    if (checked.scp === undefined || checked.idtyp === "app") {
      return invalidAssertion("the assertion is an app's token; On-Behalf-Of needs a user's token");
    }
    const user = users.find((u) => u.oid === checked.oid?.toLowerCase());
    return user ?? invalidAssertion("the assertion's user does not exist in the tenant");
  }

  /** The scopes and app roles a user's token for `resource` carries. */
  function userGrant(
    user: TenantUser,
    resource: string,
    asked: string[],
  ): { scp: string[]; roles: string[] } | EntraError {
    if (options.isDefenderResource?.(resource)) {
      const scp = grantedScopes(asked, user.scopes, "the Defender API");
      return "status" in scp ? scp : { scp, roles: [] };
    }
    const target = appForResource(resource);
    if (!target) return resourceNotFound(resource, tenantId);
    const scp = grantedScopes(asked, target.exposedScopes ?? [], `'${shown(target.displayName)}'`);
    return "status" in scp ? scp : { scp, roles: user.roles };
  }

  function issueUserToken(
    app: AppRegistration,
    appidacr: string,
    user: TenantUser,
    resource: string,
    grant: { scp: string[]; roles: string[] },
  ): string {
    return signAccessToken(app, resource, appidacr, {
      amr: ["pwd"],
      idtyp: "user",
      name: user.displayName ?? user.upn,
      oid: user.oid,
      ...(grant.roles.length > 0 ? { roles: grant.roles } : {}),
      scp: grant.scp.join(" "),
      sub: objectIdFor(tenantId, `${user.oid}/${app.clientId}`),
      unique_name: user.upn,
      upn: user.upn,
    });
  }

  /** What a path of ours answers; undefined when the path is not the token service's. */
  async function route(
    req: http.IncomingMessage,
    url: URL,
  ): Promise<{ reply: JsonReply | EntraError; tokenEndpoint: boolean } | undefined> {
    const segments = url.pathname.split("/").filter((s) => s !== "");
    const [tenant, ...rest] = segments;
    if (tenant === undefined) return undefined;
    const path = rest.join("/");
    const tokenVersion = path === "oauth2/v2.0/token" ? "v2" : path === "oauth2/token" ? "v1" : undefined;
    const documents = new Map<string, () => JsonReply | EntraError>([
      ["discovery/instance", () => instanceDiscovery(url, originOf(req))],
      [
        "v2.0/.well-known/openid-configuration",
        () =>
          isOurTenant(tenant)
            ? { status: 200, body: openIdConfigurationV2(originOf(req)) }
            : tenantNotFound(tenant),
      ],
      [
        ".well-known/openid-configuration",
        () =>
          isOurTenant(tenant)
            ? { status: 200, body: openIdConfigurationV1(originOf(req)) }
            : tenantNotFound(tenant),
      ],
      ["discovery/v2.0/keys", () => ({ status: 200, body: keys() })],
      ["discovery/keys", () => ({ status: 200, body: keys() })],
    ]);
    const document = documents.get(path);
    if (tokenVersion === undefined && document === undefined) return undefined;

    const tokenEndpoint = tokenVersion !== undefined;
    if (options.isDown?.()) {
      const reply = entraError(
        503,
        "temporarily_unavailable",
        90033,
        "A transient error has occurred. Please try again.",
      );
      return { reply, tokenEndpoint };
    }
    if (tokenVersion !== undefined)
      return { reply: await tokenRequest(req, url, tenant, tokenVersion), tokenEndpoint };
    if (req.method !== "GET") {
      return {
        reply: { status: 405, headers: { allow: "GET" }, body: { error: "method_not_allowed" } },
        tokenEndpoint,
      };
    }
    return { reply: (document as () => JsonReply | EntraError)(), tokenEndpoint };
  }

  /** The pages a browser sees: the authorize endpoint's sign-in form and its answer. */
  async function browserRoute(req: http.IncomingMessage, url: URL): Promise<BrowserReply | undefined> {
    const [tenant, ...rest] = url.pathname.split("/").filter((s) => s !== "");
    const path = rest.join("/");
    if (tenant === undefined || (path !== "oauth2/v2.0/authorize" && path !== "login")) return undefined;
    if (options.isDown?.()) {
      return {
        status: 503,
        html: signInErrorHtml(
          "temporarily_unavailable",
          90033,
          "A transient error has occurred. Please try again.",
        ),
      };
    }
    if (!isOurTenant(tenant)) {
      const err = tenantNotFound(tenant);
      return { status: 400, html: signInErrorHtml(err.error, err.aadsts, err.message) };
    }
    const loginPath = `/${tenant}/login`;
    if (path === "oauth2/v2.0/authorize") {
      if (req.method !== "GET")
        return { status: 405, html: signInErrorHtml("invalid_request", 900561, "Use GET.") };
      return codes.authorize(url.searchParams, loginPath);
    }
    if (req.method !== "POST")
      return { status: 405, html: signInErrorHtml("invalid_request", 900561, "Use POST.") };
    let body: Buffer;
    try {
      body = await readBody(req, MAX_TOKEN_REQUEST_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return {
          status: 400,
          html: signInErrorHtml("invalid_request", 90015, "The request body is too large."),
        };
      }
      throw err;
    }
    return codes.signIn(new URLSearchParams(body.toString("utf8")), loginPath);
  }

  return {
    async handle(req, res, url) {
      const page = await browserRoute(req, url);
      if (page) {
        writeBrowserReply(res, page);
        return true;
      }
      const routed = await route(req, url);
      if (!routed) return false;
      const { reply, tokenEndpoint } = routed;
      const isError = "aadsts" in reply;
      if (tokenEndpoint && isError) refused += 1;
      const clientRequestId = req.headers["client-request-id"];
      const correlationId =
        typeof clientRequestId === "string" && /^[0-9a-f-]{36}$/i.test(clientRequestId)
          ? clientRequestId
          : randomUUID();
      writeJson(res, isError ? entraErrorReply(reply, new Date(nowMs()), correlationId) : reply);
      return true;
    },

    verifyBearer(authorization) {
      if (authorization === undefined || authorization === "") {
        return { ok: false, reason: "no Authorization header" };
      }
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match?.[1]) return { ok: false, reason: "the Authorization header is not a Bearer token" };
      const jwt = decodeJwt(match[1]);
      if (!jwt) return { ok: false, reason: "the bearer token is malformed" };
      const c = checkSignedToken(jwt);
      if (typeof c === "string") return { ok: false, reason: c.replace(/^the token/, "the bearer token") };
      const caller: VerifiedCaller = {
        appId: c.appid,
        displayName: c.app_displayname,
        roles: c.roles,
        tenantId: c.tid,
        audience: c.aud,
      };
      if (c.scp === undefined) return { ok: true, caller };
      // The user's RBAC is the tenant's current state, not what it was when the token was issued.
      const user = users.find((u) => u.oid === c.oid?.toLowerCase());
      if (!user) return { ok: false, reason: "the bearer token's user does not exist in the tenant" };
      const scopes = c.scp.split(" ").filter((s) => s !== "");
      return {
        ok: true,
        caller: {
          ...caller,
          user: { upn: user.upn, oid: user.oid, scopes, deviceGroups: user.deviceGroups },
        },
      };
    },

    registerApp,

    counts: () => ({ issued, refused }),

    issuedTokens: () => [...issuedTokens],
  };
}

function writeBrowserReply(res: http.ServerResponse, reply: BrowserReply): void {
  const headers = {
    "cache-control": "no-store, no-cache",
    pragma: "no-cache",
    // Never framed. No form-action: browsers apply it to the redirect after the post, which leaves this host.
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
  };
  if ("location" in reply) writeText(res, 302, "", "text/plain", { ...headers, location: reply.location });
  else writeText(res, reply.status, reply.html, "text/html; charset=utf-8", headers);
}
