/**
 * What the API client needs from authentication: a bearer token for the Defender API.
 * `forceRefresh` is set after a 401 so a revoked or rotated token is replaced once.
 */
export interface TokenRequestOptions {
  forceRefresh?: boolean;
  signal?: AbortSignal;
}

export interface TokenProvider {
  /** A human-readable description for logs and `check` (never contains a secret). */
  readonly description: string;
  getToken(options?: TokenRequestOptions): Promise<string>;
}
