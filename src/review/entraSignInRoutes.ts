import type { IncomingMessage, ServerResponse } from "node:http";
import { clearedPendingCookie, pendingCookie, pendingFromCookieHeader } from "./entraPendingCookie.js";
import type { EntraReviewer, EntraReviewerSignIn } from "./entraSignIn.js";
import { ENTRA_CALLBACK_PATH, ENTRA_SIGNIN_PATH } from "./entraSignInConfig.js";
import { EntraSignInError } from "./entraSignInError.js";

/**
 * The console's two Entra routes: `GET /review/signin/entra` starts a sign-in (302 to Entra ID, the
 * pending cookie set) and `GET /review/signin/entra/callback` finishes it (the pending cookie cleared
 * whatever the outcome; on success the console's own session cookie, then 303 to the console). A
 * refusal is answered as plain text that says what to do. Returns false for any other request.
 */
export async function handleEntraSignIn(
  req: IncomingMessage,
  res: ServerResponse,
  signIn: EntraReviewerSignIn,
  /** Opens the console's session for the reviewer; returns its `Set-Cookie` value. */
  openSession: (reviewer: EntraReviewer) => string,
  /** Where the browser goes once signed in. */
  consolePath = "/review",
): Promise<boolean> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method !== "GET" || (path !== ENTRA_SIGNIN_PATH && path !== ENTRA_CALLBACK_PATH)) return false;
  const secure = signIn.secureCookie;
  try {
    if (path === ENTRA_SIGNIN_PATH) {
      const start = await signIn.begin();
      res
        .writeHead(302, {
          location: start.redirectUrl,
          "set-cookie": pendingCookie(start.pending, start.maxAgeSeconds, secure),
          "cache-control": "no-store",
        })
        .end();
      return true;
    }
    const query = new URL(req.url ?? "/", "http://localhost").searchParams;
    const reviewer = await signIn.complete(query, pendingFromCookieHeader(req.headers.cookie));
    res
      .writeHead(303, {
        location: consolePath,
        "set-cookie": [clearedPendingCookie(secure), openSession(reviewer)],
        "cache-control": "no-store",
      })
      .end();
    return true;
  } catch (err) {
    if (!(err instanceof EntraSignInError)) throw err;
    res
      .writeHead(err.status, {
        "content-type": "text/plain; charset=utf-8",
        "set-cookie": clearedPendingCookie(secure),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      })
      .end(`Sign-in with Entra ID refused (${err.code}): ${err.message}\n`);
    return true;
  }
}
