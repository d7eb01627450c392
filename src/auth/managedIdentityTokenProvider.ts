import { AuthError, ManagedIdentityApplication } from "@azure/msal-node";
import { AuthenticationError } from "./errors.js";
import type { TokenProvider, TokenRequestOptions } from "./tokenProvider.js";

/**
 * Tokens from the host's managed identity (App Service, VM/IMDS, Arc, Cloud Shell, Service Fabric,
 * as msal-node detects from the environment). Managed identity endpoints take a v1 `resource`, not
 * a scope; msal-node caches the token and renews it.
 */
export interface ManagedIdentityTokenProviderOptions {
  scope: string;
  /** A user-assigned identity's client id (AZURE_CLIENT_ID); absent for the system-assigned identity. */
  clientId?: string;
}

/** `https://api.securitycenter.microsoft.com/.default` → `https://api.securitycenter.microsoft.com`. */
export function resourceFromScope(scope: string): string {
  return scope.replace(/\/\.default$/, "");
}

export class ManagedIdentityTokenProvider implements TokenProvider {
  readonly description: string;
  readonly resource: string;
  private readonly app: ManagedIdentityApplication;

  constructor(options: ManagedIdentityTokenProviderOptions) {
    this.resource = resourceFromScope(options.scope);
    this.app = new ManagedIdentityApplication(
      options.clientId ? { managedIdentityIdParams: { userAssignedClientId: options.clientId } } : {},
    );
    const identity = options.clientId ? `user-assigned, client id ${options.clientId}` : "system-assigned";
    this.description = `managed identity (${identity}) for ${this.resource}`;
  }

  async getToken(request: TokenRequestOptions = {}): Promise<string> {
    request.signal?.throwIfAborted();
    try {
      const result = await this.app.acquireToken({
        resource: this.resource,
        forceRefresh: request.forceRefresh ?? false,
      });
      return result.accessToken;
    } catch (err) {
      throw this.explain(err);
    }
  }

  private explain(err: unknown): AuthenticationError {
    const detail = err instanceof AuthError ? `${err.errorCode}: ${err.errorMessage}` : String(err);
    const unreachable = err instanceof AuthError && err.errorCode === "network_error";
    return new AuthenticationError(
      unreachable ? "AUTH_UNREACHABLE" : "AUTH_FAILED",
      `${this.description} could not get a token (${detail.slice(0, 300)}): run on an Azure host with this identity assigned and granted the Defender API permissions, or set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE instead`,
    );
  }
}
