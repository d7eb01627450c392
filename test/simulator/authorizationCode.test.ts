import { createHash, randomBytes, randomUUID } from "node:crypto";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScenario } from "../../src/simulator/scenario.js";
import { formOf, signInAs, visit, type Page } from "../helpers/entraSignInPages.js";
import { postTokenForm } from "../helpers/tokenEndpoint.js";
import { secretApp, startTokenServer, type TokenServer } from "../helpers/tokenServer.js";

const REDIRECT = "https://review.contoso.test/review/signin/entra/callback";
const LOOPBACK_REDIRECT = "http://127.0.0.1/review/signin/entra/callback";
const app = secretApp({ displayName: "review console", redirectUris: [REDIRECT, LOOPBACK_REDIRECT] });
const otherApp = secretApp({ redirectUris: [REDIRECT] });
const ANA = { upn: "ana@contoso.com", password: "correct horse battery" };
const USERS = [
  {
    upn: ANA.upn,
    displayName: "Ana Reviewer",
    password: ANA.password,
    roles: ["LiveResponse.Reviewer"],
    deviceGroups: "all" as const,
  },
];

let server: TokenServer;
let dispatcher: Agent;
let clockMs: number | undefined;

beforeAll(async () => {
  const { users } = parseScenario({
    tenant: { id: randomUUID() },
    apps: [app],
    users: USERS,
    devices: [],
  });
  server = await startTokenServer({ apps: [app, otherApp], users, now: () => clockMs ?? Date.now() });
  dispatcher = new Agent({ connect: { ca: server.caPem } });
});

afterAll(async () => {
  await dispatcher.close();
  await server.close();
});

/** A page of the token service at `path`, as a browser gets it (redirects returned, not followed). */
const fetchPage = (path: string, form?: Record<string, string>): Promise<Page> =>
  visit(dispatcher, `${server.authorityHost}${path}`, form);

const flowTokenOf = (page: Page): string => formOf(page, server.authorityHost).flowToken;

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

const authorizePath = (params: Record<string, string>) =>
  `/${server.tenantId}/oauth2/v2.0/authorize?${new URLSearchParams(params).toString()}`;

function authorizeParams(overrides: Record<string, string> = {}, challenge = pkce().challenge) {
  return {
    client_id: app.clientId,
    response_type: "code",
    redirect_uri: REDIRECT,
    scope: "openid profile offline_access",
    state: "state-123",
    nonce: "nonce-456",
    code_challenge: challenge,
    code_challenge_method: "S256",
    response_mode: "query",
    ...overrides,
  };
}

/** Signs Ana in through the form; returns the redirect's query. */
async function signIn(params: Record<string, string>): Promise<URLSearchParams> {
  const answer = await signInAs(dispatcher, `${server.authorityHost}${authorizePath(params)}`, ANA);
  expect(answer.status).toBe(302);
  return new URL(answer.location ?? "").searchParams;
}

function redeem(form: Record<string, string>) {
  return postTokenForm(dispatcher, server, {
    grant_type: "authorization_code",
    client_id: app.clientId,
    client_secret: app.clientSecret ?? "",
    redirect_uri: REDIRECT,
    scope: "openid profile offline_access",
    ...form,
  });
}

const claimsOf = (jwt: unknown) =>
  JSON.parse(Buffer.from(String(jwt).split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;

describe("the authorize endpoint", () => {
  it("is advertised by the v2 OpenID configuration", async () => {
    const page = await fetchPage(`/${server.tenantId}/v2.0/.well-known/openid-configuration`);
    const config = JSON.parse(page.text) as Record<string, unknown>;
    expect(config.authorization_endpoint).toBe(
      `${server.authorityHost}/${server.tenantId}/oauth2/v2.0/authorize`,
    );
  });

  it("shows a sign-in form for a registered client and redirect URI, with the login hint escaped", async () => {
    const page = await fetchPage(authorizePath(authorizeParams({ login_hint: '"><script>x</script>' })));
    expect(page.status).toBe(200);
    expect(page.text).toContain('name="login"');
    expect(page.text).toContain('name="passwd"');
    expect(page.text).toContain("review console");
    expect(page.text).not.toContain("<script>");
    expect(page.text).toContain("&quot;&gt;&lt;script&gt;");
  });

  it("shows an unregistered redirect URI as a page and never redirects to it", async () => {
    const page = await fetchPage(
      authorizePath(authorizeParams({ redirect_uri: "https://evil.example/callback" })),
    );
    expect(page.status).toBe(400);
    expect(page.location).toBeUndefined();
    expect(page.text).toContain("AADSTS50011");
  });

  it("shows an unknown client or tenant as a page", async () => {
    const unknownClient = await fetchPage(authorizePath(authorizeParams({ client_id: randomUUID() })));
    expect(unknownClient.status).toBe(400);
    expect(unknownClient.text).toContain("AADSTS700016");
    const unknownTenant = await fetchPage(
      `/${randomUUID()}/oauth2/v2.0/authorize?${new URLSearchParams(authorizeParams()).toString()}`,
    );
    expect(unknownTenant.text).toContain("AADSTS90002");
  });

  it("matches a loopback redirect URI whatever its port", async () => {
    const redirect = "http://127.0.0.1:43210/review/signin/entra/callback";
    const page = await fetchPage(authorizePath(authorizeParams({ redirect_uri: redirect })));
    expect(page.status).toBe(200);
    const otherPath = await fetchPage(
      authorizePath(authorizeParams({ redirect_uri: "http://127.0.0.1:43210/elsewhere" })),
    );
    expect(otherPath.status).toBe(400);
  });

  it("sends request errors back to a trusted redirect URI with the state", async () => {
    const cases: [Record<string, string>, string, string][] = [
      [{ response_type: "token" }, "unsupported_response_type", "AADSTS700051"],
      [{ code_challenge_method: "S512" }, "invalid_request", "AADSTS501491"],
      [{ prompt: "none" }, "login_required", "AADSTS50058"],
    ];
    for (const [overrides, error, aadsts] of cases) {
      const page = await fetchPage(authorizePath(authorizeParams(overrides)));
      expect(page.status).toBe(302);
      const back = new URL(page.location ?? "");
      expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
      expect(back.searchParams.get("error")).toBe(error);
      expect(back.searchParams.get("error_description")).toContain(aadsts);
      expect(back.searchParams.get("state")).toBe("state-123");
    }
  });

  it("shows the form again after a wrong password, and sends access_denied back on cancel", async () => {
    const form = await fetchPage(authorizePath(authorizeParams()));
    const flowToken = flowTokenOf(form);
    const wrong = await fetchPage(`/${server.tenantId}/login`, {
      flowToken,
      login: "ana@contoso.com",
      passwd: "wrong password",
      action: "signin",
    });
    expect(wrong.status).toBe(200);
    expect(wrong.location).toBeUndefined();
    expect(wrong.text).toContain("Your account or password is incorrect.");
    expect(wrong.text).not.toContain("wrong password");
    const cancelled = await fetchPage(`/${server.tenantId}/login`, {
      flowToken: flowTokenOf(wrong),
      action: "cancel",
    });
    const back = new URL(cancelled.location ?? "").searchParams;
    expect(back.get("error")).toBe("access_denied");
    expect(back.get("state")).toBe("state-123");
    expect(back.get("code")).toBeNull();
  });

  it("refuses a sign-in form that outlived its flow", async () => {
    const form = await fetchPage(authorizePath(authorizeParams()));
    clockMs = Date.now() + 16 * 60_000;
    try {
      const late = await fetchPage(`/${server.tenantId}/login`, {
        flowToken: flowTokenOf(form),
        login: "ana@contoso.com",
        passwd: "correct horse battery",
      });
      expect(late.status).toBe(400);
      expect(late.text).toContain("AADSTS50089");
    } finally {
      clockMs = undefined;
    }
  });
});

describe("the authorization_code grant", () => {
  it("redeems a code for an ID token naming the user, the app, the nonce and the user's app roles", async () => {
    const { verifier, challenge } = pkce();
    const back = await signIn(authorizeParams({}, challenge));
    expect(back.get("state")).toBe("state-123");
    const res = await redeem({ code: back.get("code") ?? "", code_verifier: verifier, client_info: "1" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer" });
    expect(res.body.refresh_token).toBeUndefined();
    expect(typeof res.body.access_token).toBe("string");
    expect(typeof res.body.client_info).toBe("string");
    const id = claimsOf(res.body.id_token);
    expect(id).toMatchObject({
      aud: app.clientId,
      iss: `${server.authorityHost}/${server.tenantId}/v2.0`,
      tid: server.tenantId,
      preferred_username: "ana@contoso.com",
      name: "Ana Reviewer",
      nonce: "nonce-456",
      roles: ["LiveResponse.Reviewer"],
      ver: "2.0",
    });
    expect(id.oid).toMatch(/^[0-9a-f-]{36}$/);
    expect(claimsOf(res.body.access_token).aud).toBe("https://graph.microsoft.com");
  });

  it("redeems a code once", async () => {
    const { verifier, challenge } = pkce();
    const code = (await signIn(authorizeParams({}, challenge))).get("code") ?? "";
    expect((await redeem({ code, code_verifier: verifier })).status).toBe(200);
    const again = await redeem({ code, code_verifier: verifier });
    expect(again.status).toBe(400);
    expect(again.body.error).toBe("invalid_grant");
    expect(again.body.error_codes).toEqual([54005]);
  });

  it("binds the code to the PKCE verifier, the redirect URI and the client", async () => {
    const cases: [Record<string, string>, number][] = [
      [{ code_verifier: pkce().verifier }, 50148],
      [{ redirect_uri: LOOPBACK_REDIRECT }, 500112],
      [{ client_id: otherApp.clientId, client_secret: otherApp.clientSecret ?? "" }, 70000],
    ];
    for (const [overrides, aadsts] of cases) {
      const { verifier, challenge } = pkce();
      const code = (await signIn(authorizeParams({}, challenge))).get("code") ?? "";
      const res = await redeem({ code, code_verifier: verifier, ...overrides });
      expect(res.status).toBe(400);
      expect(res.body.error_codes).toEqual([aadsts]);
      expect(JSON.stringify(res.body)).not.toContain(code);
      // A failed attempt spends the code.
      expect((await redeem({ code, code_verifier: verifier })).body.error_codes).toEqual([54005]);
    }
  });

  it("refuses a code without the verifier its challenge asked for, and a client without its secret", async () => {
    const { verifier, challenge } = pkce();
    const code = (await signIn(authorizeParams({}, challenge))).get("code") ?? "";
    const noVerifier = await redeem({ code });
    expect(noVerifier.body.error_codes).toEqual([900144]);
    const code2 = (await signIn(authorizeParams({}, challenge))).get("code") ?? "";
    const badSecret = await redeem({
      code: code2,
      code_verifier: verifier,
      client_secret: "not-the-secret-at-all",
    });
    expect(badSecret.status).toBe(401);
    expect(badSecret.body.error_codes).toEqual([7000215]);
  });

  it("divides the code's lifetime by the time scale", async () => {
    const { users } = parseScenario({ tenant: { id: randomUUID() }, apps: [app], users: USERS, devices: [] });
    let scaledNow = Date.now();
    const scaled = await startTokenServer({ apps: [app], users, timeScale: 60, now: () => scaledNow });
    const scaledDispatcher = new Agent({ connect: { ca: scaled.caPem } });
    try {
      const { verifier, challenge } = pkce();
      const authorize = `${scaled.authorityHost}/${scaled.tenantId}/oauth2/v2.0/authorize`;
      const answer = await signInAs(
        scaledDispatcher,
        `${authorize}?${new URLSearchParams(authorizeParams({}, challenge)).toString()}`,
        ANA,
      );
      const code = new URL(answer.location ?? "").searchParams.get("code") ?? "";
      scaledNow += 11_000;
      const res = await postTokenForm(scaledDispatcher, scaled, {
        grant_type: "authorization_code",
        client_id: app.clientId,
        client_secret: app.clientSecret ?? "",
        redirect_uri: REDIRECT,
        scope: "openid",
        code,
        code_verifier: verifier,
      });
      expect(res.body.error_codes).toEqual([70008]);
    } finally {
      await scaledDispatcher.close();
      await scaled.close();
    }
  });

  it("refuses a code after its ten minutes", async () => {
    const { verifier, challenge } = pkce();
    const code = (await signIn(authorizeParams({}, challenge))).get("code") ?? "";
    clockMs = Date.now() + 11 * 60_000;
    try {
      const late = await redeem({ code, code_verifier: verifier });
      expect(late.status).toBe(400);
      expect(late.body.error_codes).toEqual([70008]);
    } finally {
      clockMs = undefined;
    }
  });
});
