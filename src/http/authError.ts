/**
 * Why a request to /mcp was not let in, as RFC 6750 names it. `missing_token` is the plain challenge
 * (no `error` attribute); the message is the `error_description` a client sees, so it never quotes
 * the credential it is about.
 */
export type AuthErrorCode = "missing_token" | "invalid_token" | "insufficient_scope" | "issuer_unavailable";

const STATUS: Record<AuthErrorCode, 401 | 403 | 503> = {
  missing_token: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  issuer_unavailable: 503,
};

export class HttpAuthError extends Error {
  override readonly name = "HttpAuthError";
  readonly status: 401 | 403 | 503;

  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}
