import { createHash, randomBytes } from "node:crypto";
import { entraError, type EntraError } from "./entraError.js";
import { sameSecret } from "./sameSecret.js";
import type { AppRegistration, ScenarioUser } from "./scenario.js";

/**
 * What the token service needs to issue delegated (user) tokens: who the tenant's users are, which
 * resource and scopes a user's request names, and what scopes the token then carries. The token
 * service does the HTTP and the signing; this decides what is granted.
 */

/** A scenario user with the object id settled. */
export type TenantUser = ScenarioUser & { oid: string };

/** Scopes MSAL adds to every user request; they ask for the ID token and refresh token, not for a resource. */
export const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);

/** A stable GUID-shaped object id, as Entra gives each user and service principal one. */
export function objectIdFor(tenantId: string, name: string): string {
  const h = createHash("sha256").update(`${tenantId}/${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function tenantUsers(tenantId: string, users: readonly ScenarioUser[]): TenantUser[] {
  return users.map((u) => ({
    ...u,
    oid: (u.oid ?? objectIdFor(tenantId, u.upn.toLowerCase())).toLowerCase(),
  }));
}

/** The identifiers a token for `app` as a resource may carry as `aud`. */
export function audiencesOf(app: AppRegistration): string[] {
  return [app.clientId, `api://${app.clientId}`, ...(app.identifierUris ?? [])].map((a) => a.toLowerCase());
}

/** Echo only identifier-shaped request values in error texts; anything else may be a secret pasted in the wrong field. */
export function shown(value: string): string {
  return /^[A-Za-z0-9._:/-]{1,200}$/.test(value) ? value : "(value not shown)";
}

/** A v2 `scope` parameter of a user's request: one resource, and the scope names (or `.default`) asked of it. */
export interface ScopeRequest {
  resource: string;
  /** Empty for `<resource>/.default`: everything granted. */
  names: string[];
}

function invalidScope(scope: string): EntraError {
  return entraError(
    400,
    "invalid_scope",
    70011,
    `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' (${shown(scope)}) is not valid: name one resource's scopes, e.g. api://app/scope or https://api.securitycenter.microsoft.com/.default.`,
  );
}

export function parseScopeRequest(scope: string): ScopeRequest | EntraError {
  const asked = scope.split(/\s+/).filter((s) => s !== "" && !OIDC_SCOPES.has(s));
  const split = asked.map((s) => {
    const at = s.lastIndexOf("/");
    return at <= 0 ? undefined : { resource: s.slice(0, at).replace(/\/+$/, ""), name: s.slice(at + 1) };
  });
  const first = split[0];
  if (first === undefined || split.some((s) => s === undefined || s.resource !== first.resource)) {
    return invalidScope(scope);
  }
  const names = split.map((s) => (s as { name: string }).name);
  if (names.includes(".default"))
    return names.length === 1 ? { resource: first.resource, names: [] } : invalidScope(scope);
  return { resource: first.resource, names };
}

/**
 * The `scp` a user's token for a resource carries: what was asked, if all of it is granted; the
 * whole grant for `.default`. A scope not granted is refused rather than left out, so a test
 * notices a missing permission at the token and not at a confusing 403 later.
 */
export function grantedScopes(
  asked: readonly string[],
  granted: readonly string[],
  what: string,
): string[] | EntraError {
  const missing = asked.filter((n) => !granted.includes(n));
  if (missing.length > 0 || granted.length === 0) {
    return entraError(
      400,
      "invalid_grant",
      65001,
      `The user or administrator has not consented to use the application with ${what} for the scope(s) ${shown((missing.length > 0 ? missing : asked).join(" ") || ".default")}.`,
    );
  }
  return asked.length === 0 ? [...granted] : [...asked];
}

export function invalidCredentials(): EntraError {
  return entraError(
    400,
    "invalid_grant",
    50126,
    "Error validating credentials due to invalid username or password.",
  );
}

/** An On-Behalf-Of assertion that cannot be exchanged, for the given reason. */
export function invalidAssertion(reason: string): EntraError {
  return entraError(400, "invalid_grant", 50013, `Assertion failed validation: ${reason}.`);
}

/** `client_info`: the home account MSAL keys its cache by (base64url JSON of uid and utid). */
export function clientInfo(user: TenantUser, tenantId: string): string {
  return Buffer.from(JSON.stringify({ uid: user.oid, utid: tenantId })).toString("base64url");
}

/**
 * The user whose UPN and password these are, or undefined: the same answer and the same work for an
 * unknown user and a wrong password, so the answer's timing does not tell which.
 */
export function userWithPassword(
  users: readonly TenantUser[],
  username: string,
  password: string,
): TenantUser | undefined {
  const user = users.find((u) => u.upn.toLowerCase() === username.toLowerCase());
  const ok = sameSecret(password, user?.password ?? randomBytes(16).toString("hex"));
  return user && ok ? user : undefined;
}
