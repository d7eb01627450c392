import { rootCertificates } from "node:tls";
import {
  AuthError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from "@azure/msal-node";
import { Agent, request } from "undici";

/**
 * msal-node's HTTP client, on undici with an explicit TLS trust list: msal-node 7 fetches through
 * Node's global fetch and offers no agent options, so an extra CA (the simulator's, a TLS-inspecting
 * proxy's) needs a client of our own. It also keeps the last failure: MSAL swallows the reason when
 * OpenID discovery fails, and the provider needs it to say whether the host or the tenant is wrong.
 */
export type TransportFailure =
  | { kind: "unreachable"; url: string; reason: string }
  | { kind: "http"; url: string; status: number; error?: string; aadsts?: number };

const DEFAULT_TIMEOUT_MS = 30_000;

function reasonOf(err: unknown): string {
  const e = err as {
    code?: string;
    cause?: { code?: string };
    errors?: { code?: string }[];
    message?: string;
  };
  return e.code ?? e.cause?.code ?? e.errors?.[0]?.code ?? e.message ?? "unknown error";
}

function errorFields(body: unknown): { error?: string; aadsts?: number } {
  if (typeof body !== "object" || body === null) return {};
  const b = body as { error?: unknown; error_codes?: unknown };
  const codes = Array.isArray(b.error_codes) ? (b.error_codes as unknown[]) : [];
  return {
    ...(typeof b.error === "string" ? { error: b.error } : {}),
    ...(typeof codes[0] === "number" ? { aadsts: codes[0] } : {}),
  };
}

export class MsalNetworkClient implements INetworkModule {
  private readonly dispatcher: Agent;
  /** The most recent request that failed, or undefined once one succeeds after it. */
  lastFailure: TransportFailure | undefined;

  constructor(options: { ca?: string; timeoutMs?: number } = {}) {
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.dispatcher = new Agent({
      // `ca` replaces Node's trust store, so the public roots stay in the list beside the extra CA.
      connect: { ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}), timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>("POST", url, options);
  }

  private async send<T>(
    method: "GET" | "POST",
    url: string,
    options: NetworkRequestOptions | undefined,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    const correlationId = options?.correlationId ?? "";
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: options?.headers ?? {},
        ...(method === "POST" ? { body: options?.body ?? "" } : {}),
        ...(timeout ? { signal: AbortSignal.timeout(timeout) } : {}),
      });
    } catch (err) {
      const reason = reasonOf(err);
      this.lastFailure = { kind: "unreachable", url, reason };
      throw new AuthError("network_error", correlationId, `Network request failed: ${reason}`);
    }

    const text = await response.body.text();
    let body: unknown;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      this.lastFailure = { kind: "http", url, status: response.statusCode };
      throw new AuthError(
        "token_parsing_error",
        correlationId,
        `Failed to parse response: HTTP ${response.statusCode} was not JSON`,
      );
    }
    this.lastFailure =
      response.statusCode >= 400
        ? { kind: "http", url, status: response.statusCode, ...errorFields(body) }
        : undefined;

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    return { headers, body: body as T, status: response.statusCode };
  }
}
