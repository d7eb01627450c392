import { generateKeyPairSync, randomUUID } from "node:crypto";
import { decodeProtectedHeader, SignJWT } from "jose";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpAuthError } from "../../src/http/authError.js";
import { EntraTokenVerifier } from "../../src/http/entraTokenVerifier.js";
import { issuerGet } from "../../src/http/issuerFetch.js";
import { postTokenForm } from "../helpers/tokenEndpoint.js";
import { secretApp, startTokenServer, type TokenServer } from "../helpers/tokenServer.js";
import {
  MCP_POST_HEADERS,
  rawRequest,
  startHttpHarness,
  TOOLS_LIST,
  type HttpHarness,
} from "./httpHarness.js";

/**
 * Entra ID tokens for real: the simulator's token service issues client-credentials tokens signed
 * with its key and publishes the JWKS behind an OpenID configuration over HTTPS. Tokens it cannot
 * issue (another tenant, expired, a user's) come from token services sharing that key, or are
 * signed with it here, as Entra signs every tenant's tokens with the same keys.
 */

const AUDIENCE = "https://mcp.contoso.test";
const ROLE = "Mcp.Invoke";
const SCOPE = "mcp.access";
const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;

const caller = secretApp({ displayName: "soc triage agent", roles: [ROLE] });
const otherCaller = secretApp({ displayName: "second agent", roles: [ROLE] });
const withoutRole = secretApp({ displayName: "app without the role", roles: ["Machine.Read.All"] });

async function tokenFrom(
  server: TokenServer,
  app: { clientId: string; clientSecret?: string | undefined },
  resource = AUDIENCE,
): Promise<string> {
  const dispatcher = new Agent({ connect: { ca: server.caPem } });
  try {
    const { body } = await postTokenForm(dispatcher, server, {
      grant_type: "client_credentials",
      client_id: app.clientId,
      client_secret: app.clientSecret ?? "",
      scope: `${resource}/.default`,
    });
    if (typeof body.access_token !== "string") throw new Error(`no token: ${JSON.stringify(body)}`);
    return body.access_token;
  } finally {
    await dispatcher.close();
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("OAuth 2.1 resource server for Entra ID tokens", () => {
  let tenant: TokenServer;
  let otherTenant: TokenServer;
  let pastTenant: TokenServer;
  let h: HttpHarness;
  let kid: string;

  /** A token signed with the tenant's key, with these claims over a valid app token's. */
  const signed = async (claims: Record<string, unknown>): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      aud: AUDIENCE,
      iss: `https://sts.windows.net/${tenant.tenantId}/`,
      tid: tenant.tenantId,
      oid: randomUUID(),
      iat: now,
      nbf: now,
      exp: now + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid })
      .sign(signingKey);
  };

  beforeAll(async () => {
    const apps = [caller, otherCaller, withoutRole];
    tenant = await startTokenServer({ signingKey, apps });
    otherTenant = await startTokenServer({ signingKey, apps });
    // Its tokens were issued three hours ago and expired two hours ago.
    pastTenant = await startTokenServer({
      signingKey,
      apps,
      tenantId: tenant.tenantId,
      now: () => Date.now() - 3 * 3_600_000,
    });
    kid = decodeProtectedHeader(await tokenFrom(tenant, caller)).kid ?? "";
    h = await startHttpHarness({
      settings: {
        MDE_HTTP_OAUTH_AUDIENCE: AUDIENCE,
        MDE_HTTP_OAUTH_TENANT_ID: tenant.tenantId,
        MDE_HTTP_OAUTH_AUTHORITY: tenant.authorityHost,
        MDE_HTTP_OAUTH_ROLE: ROLE,
        MDE_HTTP_OAUTH_SCOPE: SCOPE,
      },
      issuerCa: tenant.caPem,
    });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([tenant, otherTenant, pastTenant].map((s) => s?.close()));
  });

  const post = (headers: Record<string, string>) =>
    rawRequest(h.mcpUrl, { method: "POST", headers: { ...MCP_POST_HEADERS, ...headers }, body: TOOLS_LIST });

  it("answers no token with 401 and a challenge naming the Protected Resource Metadata and scope", async () => {
    const res = await post({});
    expect(res.status).toBe(401);
    const metadataUrl = `${h.url}/.well-known/oauth-protected-resource/mcp`;
    expect(res.headers["www-authenticate"]).toBe(
      `Bearer realm="mde-live-response-mcp", resource_metadata="${metadataUrl}", scope="${AUDIENCE}/${SCOPE}"`,
    );
    for (const url of [metadataUrl, `${h.url}/.well-known/oauth-protected-resource`]) {
      const metadata = await rawRequest(url);
      expect(metadata.status).toBe(200);
      expect(JSON.parse(metadata.text)).toEqual({
        resource: h.mcpUrl,
        authorization_servers: [`${tenant.authorityHost}/${tenant.tenantId}/v2.0`],
        scopes_supported: [`${AUDIENCE}/${SCOPE}`],
        bearer_methods_supported: ["header"],
        resource_name: "mde-live-response-mcp",
      });
    }
  });

  it("lets in a token issued for this server with the app role, and binds the session to its principal", async () => {
    const token = await tokenFrom(tenant, caller);
    const { client, sessionId } = await h.connect(bearer(token));
    expect((await client.listTools()).tools.length).toBe(5);
    const { principal } = h.service.server.sessions().find((s) => s.id === sessionId)!;
    expect(principal).toMatchObject({ kind: "app", name: "soc triage agent", tenantId: tenant.tenantId });
    expect(principal.id).toMatch(/^entra:[0-9a-f-]{36}$/);
  });

  it("lets in a user's token with the delegated scope, named by its UPN", async () => {
    const token = await signed({ scp: `${SCOPE} offline_access`, upn: "ana@contoso.test", idtyp: "user" });
    const { sessionId } = await h.connect(bearer(token));
    expect(h.service.server.sessions().find((s) => s.id === sessionId)?.principal).toMatchObject({
      kind: "user",
      name: "ana@contoso.test",
    });
  });

  it.each([
    ["another audience", () => tokenFrom(tenant, caller, "https://other-api.contoso.test"), "audience"],
    ["another tenant", () => tokenFrom(otherTenant, caller), "another tenant"],
    ["a tid of another tenant", () => signed({ tid: otherTenant.tenantId, roles: [ROLE] }), "another tenant"],
    ["an expired token", () => tokenFrom(pastTenant, caller), "expired"],
    ["a key the tenant never published", () => signedWithStrangerKey(), "signature"],
  ])("refuses %s with 401 invalid_token", async (_case, token, reason) => {
    const res = await post(bearer(await token()));
    expect(res.status).toBe(401);
    const challenge = String(res.headers["www-authenticate"]);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`resource_metadata="${h.url}/.well-known/oauth-protected-resource/mcp"`);
    expect(JSON.parse(res.text).error_description).toContain(reason);
  });

  it("refuses a valid token without the role or scope with 403 insufficient_scope", async () => {
    const res = await post(bearer(await tokenFrom(tenant, withoutRole)));
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toContain('error="insufficient_scope"');
    expect(res.headers["www-authenticate"]).toContain(`scope="${AUDIENCE}/${SCOPE}"`);
  });

  it("refuses a session id presented with another principal's token (session hijack)", async () => {
    const { sessionId } = await h.connect(bearer(await tokenFrom(tenant, caller)));
    const other = await tokenFrom(tenant, otherCaller);
    const res = await post({
      ...bearer(other),
      "mcp-session-id": sessionId,
      "mcp-protocol-version": "2025-06-18",
    });
    expect(res.status).toBe(404);
  });

  it("is ready when the issuer's documents and keys can be fetched", async () => {
    const res = await rawRequest(`${h.url}/readyz`);
    expect(JSON.parse(res.text)).toEqual({
      status: "ready",
      checks: { defender_token: "ok", oauth_issuer: "ok" },
    });
  });
});

async function signedWithStrangerKey(): Promise<string> {
  const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: AUDIENCE, roles: [ROLE], exp: now + 3600 })
    .setProtectedHeader({ alg: "RS256", kid: "stranger" })
    .sign(stranger);
}

describe("EntraTokenVerifier when the issuer cannot be reached", () => {
  it("answers issuer_unavailable (503), not invalid_token, and tries again on the next request", async () => {
    const issuer = issuerGet();
    // Port 9 on loopback: nothing listens there.
    const verifier = new EntraTokenVerifier(
      {
        authorityHost: "https://127.0.0.1:9",
        tenantId: randomUUID(),
        audiences: [AUDIENCE],
        scope: SCOPE,
        role: undefined,
      },
      issuer.get,
    );
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const error = await verifier.verify("a.b.c").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HttpAuthError);
        expect(error).toMatchObject({ code: "issuer_unavailable", status: 503 });
      }
      await expect(verifier.ready()).rejects.toThrow("cannot reach the token issuer");
    } finally {
      await issuer.close();
    }
  });
});
