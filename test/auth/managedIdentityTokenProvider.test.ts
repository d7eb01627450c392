import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AuthenticationError } from "../../src/auth/errors.js";
import {
  ManagedIdentityTokenProvider,
  resourceFromScope,
} from "../../src/auth/managedIdentityTokenProvider.js";

/**
 * No Azure host is reachable here, so these tests stand in for one the way msal-node finds it: the
 * App Service identity endpoint named by IDENTITY_ENDPOINT/IDENTITY_HEADER, served on loopback. That
 * exercises the real ManagedIdentityApplication (source detection, request, cache), not Azure itself.
 */
const SCOPE = "https://api.securitycenter.microsoft.com/.default";
const IDENTITY_HEADER = randomUUID();

let server: http.Server;
const seen: URLSearchParams[] = [];
let answer: { status: number; body: unknown } | undefined;
const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const params = url.searchParams;
    seen.push(params);
    const ok = req.headers["x-identity-header"] === IDENTITY_HEADER;
    const reply = answer ?? {
      status: ok ? 200 : 401,
      body: {
        access_token: `mi-token-${seen.length}`,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource: params.get("resource"),
        token_type: "Bearer",
        client_id: params.get("client_id") ?? randomUUID(),
      },
    };
    res.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.env.IDENTITY_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`;
  process.env.IDENTITY_HEADER = IDENTITY_HEADER;
});

afterAll(async () => {
  for (const [name, value] of [
    ["IDENTITY_ENDPOINT", saved.endpoint],
    ["IDENTITY_HEADER", saved.header],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
  answer = undefined;
});

describe("resourceFromScope", () => {
  it("strips /.default and leaves a bare resource alone", () => {
    expect(resourceFromScope(SCOPE)).toBe("https://api.securitycenter.microsoft.com");
    expect(resourceFromScope("https://api-gov.securitycenter.microsoft.us/.default")).toBe(
      "https://api-gov.securitycenter.microsoft.us",
    );
    expect(resourceFromScope("https://api.securitycenter.microsoft.com")).toBe(
      "https://api.securitycenter.microsoft.com",
    );
  });
});

describe("ManagedIdentityTokenProvider (App Service identity endpoint on loopback)", () => {
  it("asks the identity endpoint for the resource behind the scope, then serves MSAL's cache", async () => {
    const p = new ManagedIdentityTokenProvider({ scope: SCOPE });
    expect(p.description).toContain("system-assigned");
    const token = await p.getToken();
    expect(token).toBe("mi-token-1");
    expect(seen).toHaveLength(1);
    expect(seen[0]?.get("resource")).toBe("https://api.securitycenter.microsoft.com");
    expect(seen[0]?.get("client_id")).toBeNull();

    expect(await p.getToken()).toBe(token);
    expect(seen).toHaveLength(1);
    expect(await p.getToken({ forceRefresh: true })).toBe("mi-token-2");
    expect(seen).toHaveLength(2);
  });

  it("names a user-assigned identity by its client id", async () => {
    const clientId = randomUUID();
    const p = new ManagedIdentityTokenProvider({ scope: SCOPE, clientId });
    expect(p.description).toContain(`user-assigned, client id ${clientId}`);
    await p.getToken();
    expect(seen[0]?.get("client_id")).toBe(clientId);
  });

  it("explains a refusal from the identity endpoint", async () => {
    answer = { status: 400, body: { error: "invalid_request", error_description: "Identity not found" } };
    const err = await new ManagedIdentityTokenProvider({ scope: SCOPE, clientId: randomUUID() })
      .getToken()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).code).toBe("AUTH_FAILED");
    expect((err as AuthenticationError).message).toContain("managed identity");
    expect((err as AuthenticationError).message).toContain("AZURE_CLIENT_SECRET");
  });
});
