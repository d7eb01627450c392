/**
 * Why a token could not be had, in words that say what to fix. The message never contains a
 * secret, an assertion or a token: callers build it from our own text and the identity platform's
 * AADSTS code, and `redactKnownSecrets` is applied before it leaves the provider.
 */
export type AuthenticationErrorCode =
  /** Settings are missing, contradictory or unreadable (no request was sent). */
  | "AUTH_CONFIG"
  /** The identity platform refused the credentials or the request. */
  | "AUTH_FAILED"
  /** The authority host could not be reached (DNS, connection, TLS). */
  | "AUTH_UNREACHABLE"
  /** The token endpoint answered with a transient error (5xx, 429); trying later may work. */
  | "AUTH_UNAVAILABLE";

export class AuthenticationError extends Error {
  override readonly name = "AuthenticationError";
  constructor(
    readonly code: AuthenticationErrorCode,
    message: string,
    /** The AADSTS code when the identity platform gave one. */
    readonly aadsts?: number,
  ) {
    super(message);
  }

  /** Transient failures; a caller may try again later. */
  get retryable(): boolean {
    return this.code === "AUTH_UNREACHABLE" || this.code === "AUTH_UNAVAILABLE";
  }
}

/** Replaces every occurrence of each secret with "[redacted]". */
export function redactKnownSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  return secrets.reduce<string>(
    (out, secret) => (secret && secret.length >= 4 ? out.split(secret).join("[redacted]") : out),
    text,
  );
}
