import { AuthError, type AuthenticationResult, type ConfidentialClientApplication } from "@azure/msal-node";
import type { Logger } from "../logger.js";
import { createConfidentialClient, type MsalCredential } from "./confidentialClient.js";
import { AuthenticationError, redactKnownSecrets } from "./errors.js";
import { MsalNetworkClient } from "./msalNetworkClient.js";
import type { TokenProvider, TokenRequestOptions } from "./tokenProvider.js";

export type { MsalCredential } from "./confidentialClient.js";

export interface MsalTokenProviderOptions {
  tenantId: string;
  clientId: string;
  credential: MsalCredential;
  /** e.g. https://login.microsoftonline.com, or the simulator's https://localhost:port. */
  authorityHost: string;
  scope: string;
  /** An extra CA certificate (PEM) to trust for the authority host. */
  ca?: string;
  logger?: Logger;
}

const CREDENTIAL_HINTS: Record<MsalCredential["kind"], string> = {
  secret: "check AZURE_CLIENT_SECRET (use the secret's value, not its ID, and make sure it has not expired)",
  certificate:
    "check AZURE_CLIENT_CERTIFICATE_PATH (the certificate must be uploaded to the app registration and still be valid)",
  federated:
    "check AZURE_FEDERATED_TOKEN_FILE (the app registration needs a federated credential whose issuer, subject and audience match the token)",
};

/** AADSTS codes whose fix is the credential itself. */
const CREDENTIAL_CODES = new Set([7000215, 7000222, 7000218, 700027, 700024, 700021, 700212, 50027, 70021]);
const TRANSIENT_CODES = new Set([90033, 50196, 90006]);
/** On-Behalf-Of refusals whose cause is the user's token or consent, not the app's credential. */
const USER_CODES = new Set([50013, 500133, 65001, 50126, 50076, 50079]);

function parseAuthorityHost(authorityHost: string): URL {
  let url: URL;
  try {
    url = new URL(authorityHost);
  } catch {
    throw new AuthenticationError(
      "AUTH_CONFIG",
      "AZURE_AUTHORITY_HOST is not a URL: use e.g. https://login.microsoftonline.com",
    );
  }
  if (url.protocol !== "https:") {
    throw new AuthenticationError(
      "AUTH_CONFIG",
      `AZURE_AUTHORITY_HOST must use https:// (got ${url.protocol}//${url.host}): the identity platform and msal-node accept only HTTPS authorities`,
    );
  }
  return url;
}

/** The first line of the identity platform's description, without trace ids. */
function serverSummary(message: string): { aadsts?: number; text: string } {
  const match = /AADSTS(\d+):\s*([^\r\n]*?)(?:\s*Trace ID:|\s*-\s*Correlation ID:|[\r\n]|$)/.exec(message);
  if (!match) return { text: message.slice(0, 300) };
  return { aadsts: Number(match[1]), text: `AADSTS${match[1]}: ${(match[2] ?? "").slice(0, 300)}` };
}

/**
 * App-only tokens (and, for OnBehalfOfTokenProvider, users' tokens On-Behalf-Of) from msal-node's
 * ConfidentialClientApplication. One application object per
 * provider, so its in-memory cache is reused: a token is fetched once and renewed by MSAL 300 s
 * before it expires. Failures become AuthenticationError with what to fix, never a secret.
 */
export class MsalTokenProvider implements TokenProvider {
  readonly description: string;
  private readonly app: ConfidentialClientApplication;
  private readonly network: MsalNetworkClient;
  private readonly authorityHost: string;
  private readonly secrets: (string | undefined)[];

  constructor(private readonly options: MsalTokenProviderOptions) {
    const host = parseAuthorityHost(options.authorityHost);
    if (!/^[A-Za-z0-9.-]+$/.test(options.tenantId)) {
      throw new AuthenticationError(
        "AUTH_CONFIG",
        "AZURE_TENANT_ID must be a tenant id (a GUID) or a domain name",
      );
    }
    this.authorityHost = host.origin;
    this.network = new MsalNetworkClient(options.ca ? { ca: options.ca } : {});
    const credential = options.credential;
    this.secrets = credential.kind === "secret" ? [credential.clientSecret] : [];

    this.app = createConfidentialClient({
      tenantId: options.tenantId,
      clientId: options.clientId,
      authorityHost: this.authorityHost,
      credential,
      network: this.network,
      ...(options.logger ? { logger: options.logger } : {}),
    });

    const how =
      credential.kind === "secret"
        ? "client secret"
        : credential.kind === "certificate"
          ? `certificate ${credential.certificate.thumbprintSha256.slice(0, 12)}…`
          : `federated token file ${credential.tokenFile}`;
    this.description = `msal-node client credentials (${how}) for app ${options.clientId} in tenant ${options.tenantId} at ${this.authorityHost}`;
  }

  async getToken(request: TokenRequestOptions = {}): Promise<string> {
    return this.acquire(
      () =>
        this.app.acquireTokenByClientCredential({
          scopes: [this.options.scope],
          skipCache: request.forceRefresh ?? false,
        }),
      request,
    );
  }

  /**
   * A token for the API for the user whose token for this app `assertion` is (On-Behalf-Of), from
   * the same application object: MSAL caches it under the assertion's hash.
   */
  async getTokenOnBehalfOf(assertion: string, request: TokenRequestOptions = {}): Promise<string> {
    return this.acquire(
      () =>
        this.app.acquireTokenOnBehalfOf({
          oboAssertion: assertion,
          scopes: [this.options.scope],
          skipCache: request.forceRefresh ?? false,
        }),
      request,
      assertion,
    );
  }

  private async acquire(
    start: () => Promise<AuthenticationResult | null>,
    request: TokenRequestOptions,
    assertion?: string,
  ): Promise<string> {
    request.signal?.throwIfAborted();
    let result: AuthenticationResult | null;
    try {
      result = await abortable(start(), request.signal);
    } catch (err) {
      if (request.signal?.aborted && err === request.signal.reason) throw err;
      throw this.explain(err, assertion);
    }
    if (!result?.accessToken) {
      throw new AuthenticationError("AUTH_FAILED", `${this.authorityHost} answered without an access token`);
    }
    return result.accessToken;
  }

  private explain(err: unknown, assertion: string | undefined): AuthenticationError {
    if (err instanceof AuthenticationError) return err;
    const found = this.classify(err, assertion !== undefined);
    const secrets = [...this.secrets, assertion];
    return new AuthenticationError(found.code, redactKnownSecrets(found.message, secrets), found.aadsts);
  }

  private classify(
    err: unknown,
    onBehalfOf: boolean,
  ): { code: AuthenticationError["code"]; message: string; aadsts?: number } {
    const { tenantId, clientId, scope, credential } = this.options;
    const host = this.authorityHost;
    const tenantHint = `check AZURE_TENANT_ID, and that AZURE_AUTHORITY_HOST / MDE_CLOUD name the tenant's cloud`;
    if (!(err instanceof AuthError)) {
      return {
        code: "AUTH_FAILED",
        message: `token request to ${host} failed: ${(err as Error)?.message ?? String(err)}`,
      };
    }

    const failure = this.network.lastFailure;
    // MSAL reports failed OpenID discovery as one of these, without the reason; the network client kept it.
    const discovery =
      err.errorCode === "openid_config_error" || err.errorCode === "endpoints_resolution_error";
    if ((discovery || err.errorCode === "network_error") && failure?.kind === "unreachable") {
      const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(failure.reason);
      return {
        code: "AUTH_UNREACHABLE",
        message: tls
          ? `the TLS certificate of the authority host ${host} is not trusted (${failure.reason}): trust its CA (e.g. NODE_EXTRA_CA_CERTS, or the simulator's ca.pem)`
          : `cannot reach the authority host ${host} (${failure.reason}): check AZURE_AUTHORITY_HOST / MDE_CLOUD and the network`,
      };
    }
    if (discovery) {
      if (failure?.kind === "http" && (failure.status >= 500 || failure.status === 429)) {
        return {
          code: "AUTH_UNAVAILABLE",
          message: `the authority host ${host} is unavailable (HTTP ${failure.status}${failure.aadsts ? `, AADSTS${failure.aadsts}` : ""}): try again later`,
          ...(failure.aadsts ? { aadsts: failure.aadsts } : {}),
        };
      }
      if (
        failure?.kind === "http" &&
        (failure.aadsts === 90002 || failure.status === 400 || failure.status === 404)
      ) {
        return {
          code: "AUTH_FAILED",
          message: `tenant ${tenantId} was not found at ${host}: ${tenantHint}`,
          aadsts: failure.aadsts ?? 90002,
        };
      }
      return {
        code: "AUTH_FAILED",
        message: `could not read the OpenID configuration of ${host}/${tenantId}: ${tenantHint}`,
      };
    }

    const summary = serverSummary(err.errorMessage || err.message);
    const status = (err as { status?: number }).status;
    const aadsts = summary.aadsts ?? (Number(err.errorCode) || undefined);
    const fields = aadsts ? { aadsts } : {};
    if (
      (status !== undefined && (status >= 500 || status === 429)) ||
      (aadsts !== undefined && TRANSIENT_CODES.has(aadsts)) ||
      err.errorCode === "temporarily_unavailable"
    ) {
      return {
        code: "AUTH_UNAVAILABLE",
        message: `the token endpoint of ${host} is unavailable (${summary.text}): try again later`,
        ...fields,
      };
    }
    let hint: string;
    if (onBehalfOf && aadsts !== undefined && USER_CODES.has(aadsts))
      hint = `the signed-in user's token cannot be exchanged On-Behalf-Of for the API: sign in again, and check that the app has consent for the API's delegated permissions`;
    else if (aadsts === 90002) hint = tenantHint;
    else if (aadsts === 700016)
      hint = `check AZURE_CLIENT_ID (${clientId}) and that the app is registered in tenant ${tenantId}`;
    else if (aadsts !== undefined && CREDENTIAL_CODES.has(aadsts)) hint = CREDENTIAL_HINTS[credential.kind];
    else if (aadsts === 500011 || aadsts === 1002012)
      hint = `check MDE_CLOUD / MDE_API_SCOPE (the scope was ${scope})`;
    else hint = `see the AADSTS code for the cause`;
    return {
      code: "AUTH_FAILED",
      message: `${host} refused the token request (${summary.text}): ${hint}`,
      ...fields,
    };
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
