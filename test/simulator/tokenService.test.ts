import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenService } from "../../src/simulator/tokenService.js";
import {
  createTestCertificate,
  secretApp,
  startTokenServer,
  type TestCertificate,
  type TokenServer,
} from "../helpers/tokenServer.js";

const RESOURCE = "https://api.securitycenter.microsoft.com";

let server: TokenServer;
let dispatcher: Agent;
let down = false;
let clockMs: number | undefined;
const app = secretApp();
let cert: TestCertificate;
let otherCert: TestCertificate;
const certApp = secretApp({ clientSecret: undefined });

beforeAll(async () => {
  [cert, otherCert] = await Promise.all([createTestCertificate(), createTestCertificate()]);
  certApp.certificatesPem = [cert.certPem];
  server = await startTokenServer({
    apps: [app],
    isDown: () => down,
    now: () => clockMs ?? Date.now(),
  });
  server.service.registerApp(certApp);
  dispatcher = new Agent({ connect: { ca: server.caPem } });
});

afterAll(async () => {
  await dispatcher.close();
  await server.close();
});

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`${server.authorityHost}${path}`, { dispatcher });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

async function post(path: string, form: Record<string, string>) {
  const res = await request(`${server.authorityHost}${path}`, {
    method: "POST",
    dispatcher,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, body: JSON.parse(text) as Record<string, unknown> };
}

const tokenPath = () => `/${server.tenantId}/oauth2/v2.0/token`;
const secretForm = (extra: Record<string, string> = {}) => ({
  grant_type: "client_credentials",
  client_id: app.clientId,
  client_secret: app.clientSecret ?? "",
  scope: `${RESOURCE}/.default`,
  ...extra,
});

function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}

function assertion(
  options: {
    key?: KeyObject;
    alg?: "RS256" | "PS256";
    certPem?: string;
    claims?: Record<string, unknown>;
  } = {},
): string {
  const alg = options.alg ?? "RS256";
  const x5t = createHash("sha256")
    .update(new X509Certificate(options.certPem ?? cert.certPem).raw)
    .digest("base64url");
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${enc({ alg, typ: "JWT", "x5t#S256": x5t })}.${enc({
    aud: `${server.authorityHost}${tokenPath()}`,
    iss: certApp.clientId,
    sub: certApp.clientId,
    jti: randomUUID(),
    nbf: now,
    exp: now + 600,
    ...options.claims,
  })}`;
  const key = options.key ?? cert.privateKey;
  const signature =
    alg === "PS256"
      ? sign("sha256", Buffer.from(input), {
          key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        })
      : sign("sha256", Buffer.from(input), key);
  return `${input}.${signature.toString("base64url")}`;
}

const assertionForm = (clientAssertion: string) => ({
  grant_type: "client_credentials",
  client_id: certApp.clientId,
  client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
  client_assertion: clientAssertion,
  scope: `${RESOURCE}/.default`,
});

async function issue(): Promise<string> {
  const res = await post(tokenPath(), secretForm());
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

describe("token service documents", () => {
  it("serves the v2 OpenID configuration with endpoints on the authority host", async () => {
    const { status, body } = await get(`/${server.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(status).toBe(200);
    const base = `${server.authorityHost}/${server.tenantId}`;
    expect(body).toMatchObject({
      issuer: `${base}/v2.0`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
    });
  });

  it("serves the v1 OpenID configuration with the sts.windows.net issuer", async () => {
    const { status, body } = await get(`/${server.tenantId}/.well-known/openid-configuration`);
    expect(status).toBe(200);
    expect(body.issuer).toBe(`https://sts.windows.net/${server.tenantId}/`);
    expect(body.token_endpoint).toBe(`${server.authorityHost}/${server.tenantId}/oauth2/token`);
  });

  it("answers an unknown tenant's configuration with AADSTS90002", async () => {
    const { status, body } = await get(`/${randomUUID()}/v2.0/.well-known/openid-configuration`);
    expect(status).toBe(400);
    expect(body.error_codes).toEqual([90002]);
    expect(body.error_description).toMatch(/^AADSTS90002: Tenant '.+' not found/);
  });

  it("serves instance discovery pointing at our own configuration", async () => {
    const authorize = encodeURIComponent(`${server.authorityHost}/${server.tenantId}/oauth2/v2.0/authorize`);
    const { status, body } = await get(
      `/common/discovery/instance?api-version=1.1&authorization_endpoint=${authorize}`,
    );
    expect(status).toBe(200);
    const host = new URL(server.authorityHost).host;
    expect(body).toEqual({
      tenant_discovery_endpoint: `${server.authorityHost}/${server.tenantId}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  });

  it("refuses instance discovery for another host", async () => {
    const authorize = encodeURIComponent("https://login.example.com/common/oauth2/v2.0/authorize");
    const { status, body } = await get(`/common/discovery/instance?authorization_endpoint=${authorize}`);
    expect(status).toBe(400);
    expect(body.error).toBe("invalid_instance");
  });

  it("publishes the signing key, which verifies issued tokens", async () => {
    const { body } = await get(`/${server.tenantId}/discovery/v2.0/keys`);
    const [jwk] = body.keys as { kid: string; kty: string; n: string; e: string }[];
    const token = await issue();
    const [h, p, s] = token.split(".") as [string, string, string];
    const header = JSON.parse(Buffer.from(h, "base64url").toString()) as { kid: string; alg: string };
    expect(header).toMatchObject({ alg: "RS256", kid: jwk?.kid });
    const key = createPublicKey({ key: { kty: "RSA", n: jwk?.n, e: jwk?.e }, format: "jwk" });
    expect(verify("sha256", Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url"))).toBe(true);
  });

  it("returns false for paths that are not its own", async () => {
    const res = await request(`${server.authorityHost}/api/machines`, { dispatcher });
    await res.body.dump();
    expect(res.statusCode).toBe(404);
  });
});

describe("token endpoint", () => {
  it("issues an app token for a client secret on the v2 endpoint", async () => {
    const res = await post(tokenPath(), secretForm());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599 });
    const claims = payloadOf(res.body.access_token as string);
    const now = Math.floor(Date.now() / 1000);
    expect(claims).toMatchObject({
      aud: RESOURCE,
      iss: `https://sts.windows.net/${server.tenantId}/`,
      tid: server.tenantId,
      appid: app.clientId,
      app_displayname: app.displayName,
      roles: app.roles,
      idtyp: "app",
      appidacr: "1",
    });
    expect(claims.exp as number).toBeGreaterThan(now + 3000);
    expect(typeof claims.oid).toBe("string");
  });

  it("issues a token for resource= on the v1 endpoint", async () => {
    const { scope: _scope, ...form } = secretForm();
    const res = await post(`/${server.tenantId}/oauth2/token`, { ...form, resource: `${RESOURCE}/` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer", expires_in: "3599", resource: RESOURCE });
    expect(payloadOf(res.body.access_token as string).aud).toBe(RESOURCE);
  });

  it("puts any https resource asked for in aud", async () => {
    const res = await post(tokenPath(), secretForm({ scope: "https://api.security.microsoft.com/.default" }));
    expect(payloadOf(res.body.access_token as string).aud).toBe("https://api.security.microsoft.com");
  });

  it("refuses a wrong client secret with AADSTS7000215 and does not echo it", async () => {
    const wrong = `wrong-${randomUUID()}`;
    const res = await post(tokenPath(), secretForm({ client_secret: wrong }));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: "invalid_client", error_codes: [7000215] });
    expect(res.body.error_description).toMatch(/^AADSTS7000215: Invalid client secret provided\./);
    for (const field of ["timestamp", "trace_id", "correlation_id"])
      expect(typeof res.body[field]).toBe("string");
    expect(res.text).not.toContain(wrong);
  });

  it("names each missing field", async () => {
    for (const field of ["grant_type", "client_id", "scope"]) {
      const form: Record<string, string> = secretForm();
      delete form[field];
      const res = await post(tokenPath(), form);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("invalid_request");
      expect(res.body.error_description).toContain(`'${field}'`);
    }
  });

  it("refuses other grant types", async () => {
    const res = await post(tokenPath(), secretForm({ grant_type: "device_code" }));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("unsupported_grant_type");
  });

  it("refuses an unknown tenant with AADSTS90002", async () => {
    const res = await post(`/${randomUUID()}/oauth2/v2.0/token`, secretForm());
    expect(res.status).toBe(400);
    expect(res.body.error_codes).toEqual([90002]);
  });

  it("refuses an unknown client with AADSTS700016", async () => {
    const res = await post(tokenPath(), secretForm({ client_id: randomUUID() }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: "unauthorized_client", error_codes: [700016] });
  });

  it("refuses a scope without /.default, and a resource that is not https", async () => {
    const scope = await post(tokenPath(), secretForm({ scope: `${RESOURCE}/Machine.Read` }));
    expect(scope.body).toMatchObject({ error: "invalid_scope", error_codes: [1002012] });
    const resource = await post(tokenPath(), secretForm({ scope: "http://api.example/.default" }));
    expect(resource.body).toMatchObject({ error: "invalid_resource", error_codes: [500011] });
  });

  it("refuses both a secret and an assertion, or neither", async () => {
    const both = await post(tokenPath(), {
      ...secretForm(),
      client_assertion: "x",
      client_assertion_type: "y",
    });
    expect(both.status).toBe(401);
    const { client_secret: _s, ...neither } = secretForm();
    expect((await post(tokenPath(), neither)).body.error).toBe("invalid_client");
  });

  it("refuses a GET on the token endpoint", async () => {
    const { status, body } = await get(tokenPath());
    expect(status).toBe(400);
    expect(body.error_codes).toEqual([900561]);
  });

  it("answers 503 with an AADSTS body while down, and counts refusals", async () => {
    const before = server.service.counts();
    down = true;
    try {
      const res = await post(tokenPath(), secretForm());
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ error: "temporarily_unavailable", error_codes: [90033] });
    } finally {
      down = false;
    }
    expect(server.service.counts()).toEqual({ issued: before.issued, refused: before.refused + 1 });
    await issue();
    expect(server.service.counts().issued).toBe(before.issued + 1);
  });
});

describe("client assertions", () => {
  it("accepts an RS256 assertion signed by a registered certificate", async () => {
    const res = await post(tokenPath(), assertionForm(assertion()));
    expect(res.status).toBe(200);
    expect(payloadOf(res.body.access_token as string)).toMatchObject({
      appid: certApp.clientId,
      appidacr: "2",
    });
  });

  it("accepts PS256, as msal-node signs with a SHA-256 thumbprint", async () => {
    expect((await post(tokenPath(), assertionForm(assertion({ alg: "PS256" })))).status).toBe(200);
  });

  it("accepts the same assertion twice, as Entra does for msal-node's reused assertion", async () => {
    const once = assertion();
    expect((await post(tokenPath(), assertionForm(once))).status).toBe(200);
    expect((await post(tokenPath(), assertionForm(once))).status).toBe(200);
  });

  it("refuses a certificate that is not registered", async () => {
    const res = await post(
      tokenPath(),
      assertionForm(assertion({ key: otherCert.privateKey, certPem: otherCert.certPem })),
    );
    expect(res.status).toBe(401);
    expect(res.body.error_codes).toEqual([700027]);
  });

  it("refuses a signature by another key under a registered thumbprint", async () => {
    const res = await post(tokenPath(), assertionForm(assertion({ key: otherCert.privateKey })));
    expect(res.body.error_codes).toEqual([700027]);
    expect(res.body.error_description).toContain("signature validation");
  });

  it("refuses a wrong audience, a foreign issuer and an expired assertion", async () => {
    const cases: [Record<string, unknown>, number][] = [
      [{ aud: "https://login.example.com/x/oauth2/v2.0/token" }, 700212],
      [{ iss: randomUUID() }, 700021],
      [{ exp: Math.floor(Date.now() / 1000) - 10 }, 700024],
    ];
    for (const [claims, code] of cases) {
      const res = await post(tokenPath(), assertionForm(assertion({ claims })));
      expect(res.status).toBe(401);
      expect(res.body.error_codes).toEqual([code]);
    }
  });

  it("refuses a malformed assertion and a wrong assertion type", async () => {
    expect((await post(tokenPath(), assertionForm("not.a.jwt!"))).body.error_codes).toEqual([50027]);
    const wrongType = { ...assertionForm(assertion()), client_assertion_type: "urn:other" };
    expect((await post(tokenPath(), wrongType)).status).toBe(400);
  });
});

describe("verifyBearer", () => {
  it("accepts a token it issued and returns the caller", async () => {
    const token = await issue();
    expect(server.service.verifyBearer(`Bearer ${token}`)).toEqual({
      ok: true,
      caller: {
        appId: app.clientId,
        displayName: app.displayName,
        roles: app.roles,
        tenantId: server.tenantId,
        audience: RESOURCE,
      },
    });
  });

  it("rejects a missing header and a non-Bearer scheme", () => {
    expect(server.service.verifyBearer(undefined).ok).toBe(false);
    expect(server.service.verifyBearer("Basic abc").ok).toBe(false);
  });

  it("rejects a token whose claims were tampered with", async () => {
    const [h, p, s] = (await issue()).split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as { roles: string[] };
    claims.roles = [...claims.roles, "Machine.ReadWrite.All"];
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    expect(server.service.verifyBearer(`Bearer ${forged}`)).toEqual({
      ok: false,
      reason: "the bearer token's signature is invalid",
    });
  });

  it("rejects an expired token", async () => {
    const token = await issue();
    clockMs = Date.now() + 3600_000;
    try {
      expect(server.service.verifyBearer(`Bearer ${token}`)).toEqual({
        ok: false,
        reason: "the bearer token has expired",
      });
    } finally {
      clockMs = undefined;
    }
  });

  it("rejects a token issued by another tenant's token service", async () => {
    const other = createTokenService({
      tenantId: randomUUID(),
      apps: [],
      authorityHost: () => server.authorityHost,
    });
    expect(other.verifyBearer(`Bearer ${await issue()}`)).toEqual({
      ok: false,
      reason: "the bearer token's signature is invalid",
    });
  });

  it("rejects a token for another tenant even when signed with the same key, as Entra's keys are shared", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ours = createTokenService({
      tenantId: server.tenantId,
      apps: [],
      authorityHost: () => server.authorityHost,
      signingKey: privateKey,
    });
    const theirs = await startTokenServer({ apps: [app], signingKey: privateKey });
    const theirDispatcher = new Agent({ connect: { ca: theirs.caPem } });
    try {
      const res = await request(`${theirs.authorityHost}/${theirs.tenantId}/oauth2/v2.0/token`, {
        method: "POST",
        dispatcher: theirDispatcher,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(secretForm()).toString(),
      });
      const { access_token: token } = (await res.body.json()) as { access_token: string };
      expect(theirs.service.verifyBearer(`Bearer ${token}`).ok).toBe(true);
      expect(ours.verifyBearer(`Bearer ${token}`)).toEqual({
        ok: false,
        reason: "the bearer token was issued for another tenant",
      });
    } finally {
      await theirDispatcher.close();
      await theirs.close();
    }
  });
});
