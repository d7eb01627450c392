import { createRemoteJWKSet, customFetch, errors, type RemoteJWKSet } from "jose";
import { z } from "zod";
import type { IssuerGet } from "./issuerFetch.js";

/**
 * What checking an Entra ID token against its issuer takes, the same for the access tokens the MCP
 * endpoint admits and the ID tokens reviewers sign in with: the OpenID configuration, the signing
 * keys it names (fetched through the issuer's own HTTPS client, cached and refreshed by jose), and
 * telling a key set that cannot be fetched from a token that is bad.
 */

/** Clocks of Entra ID and this server may disagree by this much (seconds). */
export const CLOCK_TOLERANCE_SECONDS = 60;

const OpenIdConfigurationSchema = z.looseObject({ issuer: z.string().min(1), jwks_uri: z.url().optional() });
export type OpenIdConfiguration = z.infer<typeof OpenIdConfigurationSchema>;

export async function openIdConfiguration(get: IssuerGet, url: string): Promise<OpenIdConfiguration> {
  const res = await get(url);
  if (res.status !== 200) throw new Error(`${url} answered HTTP ${res.status}`);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    throw new Error(`${url} did not answer JSON`);
  }
  const parsed = OpenIdConfigurationSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${url} is not an OpenID configuration`);
  return parsed.data;
}

/** The signing keys a configuration names; throws when it names none. */
export function signingKeys(get: IssuerGet, config: OpenIdConfiguration): RemoteJWKSet {
  if (config.jwks_uri === undefined) throw new Error("the OpenID configuration names no jwks_uri");
  return createRemoteJWKSet(new URL(config.jwks_uri), {
    [customFetch]: async (url: string, init: { signal: AbortSignal }) => {
      const res = await get(url, init.signal);
      return new Response(res.text, { status: res.status, headers: { "content-type": "application/json" } });
    },
  });
}

/** A jose failure that is the issuer's (its keys could not be fetched), not the token's. */
export function keysUnreachable(error: unknown): boolean {
  return (
    error instanceof errors.JWKSTimeout ||
    !(error instanceof errors.JOSEError) ||
    error.code === "ERR_JOSE_GENERIC"
  );
}

/**
 * `load` run once and its result shared; a failure is not kept, so the next caller tries again.
 * Each caller's failure goes through `failure`, which says what it means to that caller.
 */
export function sharedUntilFailure<T>(
  load: () => Promise<T>,
  failure: (error: unknown) => Error,
): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending.catch((error: unknown) => {
      throw failure(error);
    });
  };
}
