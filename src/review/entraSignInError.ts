/**
 * Why a reviewer's Entra ID sign-in to the review console did not succeed, in words a person can act
 * on. Messages are written here from codes and the identity platform's AADSTS summary; they never
 * quote a code, a token, a verifier or a secret.
 */
export type EntraSignInErrorCode =
  /** No sign-in was started in this browser, it expired, or the answer belongs to another one (state). */
  | "ENTRA_SIGNIN_STATE"
  /** Entra ID sent the browser back with an error (wrong account, cancelled, consent refused). */
  | "ENTRA_SIGNIN_DENIED"
  /** Entra ID refused to redeem the code (used, expired, PKCE verifier or redirect URI mismatch). */
  | "ENTRA_SIGNIN_CODE"
  /** The ID token failed a check: signature, issuer, audience, tenant, expiry or nonce. */
  | "ENTRA_SIGNIN_TOKEN"
  /** The person signed in but lacks the app role MDE_REVIEW_ENTRA_ROLE names. */
  | "ENTRA_SIGNIN_ROLE"
  /** The identity platform could not be reached or answered with a transient error. */
  | "ENTRA_SIGNIN_UNAVAILABLE";

const STATUS: Record<EntraSignInErrorCode, 400 | 403 | 502 | 503> = {
  ENTRA_SIGNIN_STATE: 400,
  ENTRA_SIGNIN_DENIED: 403,
  ENTRA_SIGNIN_CODE: 400,
  ENTRA_SIGNIN_TOKEN: 502,
  ENTRA_SIGNIN_ROLE: 403,
  ENTRA_SIGNIN_UNAVAILABLE: 503,
};

export class EntraSignInError extends Error {
  override readonly name = "EntraSignInError";
  /** The HTTP status the console answers the callback with. */
  readonly status: 400 | 403 | 502 | 503;

  constructor(
    readonly code: EntraSignInErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}
