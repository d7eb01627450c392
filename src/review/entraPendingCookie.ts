import { ENTRA_SIGNIN_PATH } from "./entraSignInConfig.js";

/**
 * The cookie that carries a sign-in in progress from `/review/signin/entra` to its callback. HttpOnly
 * (no script reads it), SameSite=Lax (sent on Entra's top-level redirect back, not on a cross-site
 * subrequest), scoped to the sign-in path, Secure whenever the console is served over https.
 */
export const ENTRA_PENDING_COOKIE = "mde_review_entra";

function attributes(maxAgeSeconds: number, secure: boolean): string {
  return `Path=${ENTRA_SIGNIN_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

/** `Set-Cookie` for a sign-in just begun. */
export function pendingCookie(pending: string, maxAgeSeconds: number, secure: boolean): string {
  return `${ENTRA_PENDING_COOKIE}=${pending}; ${attributes(maxAgeSeconds, secure)}`;
}

/** `Set-Cookie` that ends it: a sign-in answer is used once, whatever its outcome. */
export function clearedPendingCookie(secure: boolean): string {
  return `${ENTRA_PENDING_COOKIE}=; ${attributes(0, secure)}`;
}

/** The pending sign-in in a request's `Cookie` header, if any. */
export function pendingFromCookieHeader(header: string | undefined): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === ENTRA_PENDING_COOKIE) {
      const value = part.slice(at + 1).trim();
      return value === "" ? undefined : value;
    }
  }
  return undefined;
}
