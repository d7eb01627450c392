import { randomUUID } from "node:crypto";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issuerGet } from "../../src/http/issuerFetch.js";
import { EntraIdTokenVerifier } from "../../src/review/entraIdToken.js";
import { EntraSignInError } from "../../src/review/entraSignInError.js";
import { parseScenario } from "../../src/simulator/scenario.js";
import { signInAs } from "../helpers/entraSignInPages.js";
import { postTokenForm } from "../helpers/tokenEndpoint.js";
import { secretApp, startTokenServer, type TokenServer } from "../helpers/tokenServer.js";

const REDIRECT = "https://review.contoso.test/review/signin/entra/callback";
const USER = { upn: "ana@contoso.com", password: "ana's long password" };
const NONCE = "nonce-of-this-sign-in";
const app = secretApp({ redirectUris: [REDIRECT] });

let server: TokenServer;
let other: TokenServer;
let dispatcher: Agent;
let fetcher: ReturnType<typeof issuerGet>;

async function startTenant(): Promise<TokenServer> {
  const { users } = parseScenario({
    tenant: { id: randomUUID() },
    apps: [app],
    users: [{ ...USER, roles: ["LiveResponse.Reviewer"], deviceGroups: [] }],
    devices: [],
  });
  return startTokenServer({ apps: [app], users });
}

beforeAll(async () => {
  [server, other] = await Promise.all([startTenant(), startTenant()]);
  dispatcher = new Agent({ connect: { ca: [server.caPem, other.caPem] } });
  fetcher = issuerGet(server.caPem);
});

afterAll(async () => {
  await fetcher.close();
  await dispatcher.close();
  await Promise.all([server.close(), other.close()]);
});

/** An ID token from a tenant's sign-in, redeemed by hand (the secret, no PKCE). */
async function idTokenFrom(tenant: TokenServer): Promise<string> {
  const authorize = new URL(`${tenant.authorityHost}/${tenant.tenantId}/oauth2/v2.0/authorize`);
  authorize.search = new URLSearchParams({
    client_id: app.clientId,
    response_type: "code",
    redirect_uri: REDIRECT,
    scope: "openid profile",
    nonce: NONCE,
  }).toString();
  const answer = await signInAs(dispatcher, authorize.toString(), USER);
  const code = new URL(answer.location ?? "").searchParams.get("code") ?? "";
  const { status, body } = await postTokenForm(dispatcher, tenant, {
    grant_type: "authorization_code",
    client_id: app.clientId,
    client_secret: app.clientSecret ?? "",
    code,
    redirect_uri: REDIRECT,
    scope: "openid profile",
  });
  if (typeof body.id_token !== "string") throw new Error(`no ID token (HTTP ${status})`);
  return body.id_token;
}

function verifier(overrides: Partial<ConstructorParameters<typeof EntraIdTokenVerifier>[0]> = {}) {
  return new EntraIdTokenVerifier({
    authorityHost: server.authorityHost,
    tenantId: server.tenantId,
    clientId: app.clientId,
    get: fetcher.get,
    ...overrides,
  });
}

async function refusal(promise: Promise<unknown>): Promise<EntraSignInError> {
  const err = await promise.then(
    () => expect.unreachable("the ID token should have been refused"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EntraSignInError);
  return err as EntraSignInError;
}

describe("the ID token check (what msal-node does not verify)", () => {
  it("accepts the tenant's ID token for this app with this nonce, and returns its claims", async () => {
    const claims = await verifier().verify(await idTokenFrom(server), NONCE);
    expect(claims).toMatchObject({
      tid: server.tenantId,
      preferred_username: USER.upn,
      roles: ["LiveResponse.Reviewer"],
    });
  });

  it("refuses another app's audience, another nonce, an expired token and a forged payload", async () => {
    const token = await idTokenFrom(server);
    const audience = await refusal(verifier({ clientId: randomUUID() }).verify(token, NONCE));
    expect(audience.message).toContain("another app (audience)");
    const nonce = await refusal(verifier().verify(token, "another nonce of equal size!!"));
    expect(nonce.message).toContain("nonce");
    const later = await refusal(verifier({ now: () => Date.now() + 2 * 3_600_000 }).verify(token, NONCE));
    expect(later.message).toContain("expired");
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString()) as Record<string, unknown>;
    const forgedPayload = Buffer.from(
      JSON.stringify({ ...claims, preferred_username: "admin@contoso.com" }),
    ).toString("base64url");
    const forged = await refusal(verifier().verify(`${header}.${forgedPayload}.${signature}`, NONCE));
    expect(forged.code).toBe("ENTRA_SIGNIN_TOKEN");
    expect(forged.message).toContain("signature");
    for (const err of [audience, nonce, later, forged]) expect(err.message).not.toContain(token);
  });

  it("refuses an ID token another tenant signed", async () => {
    const err = await refusal(verifier().verify(await idTokenFrom(other), NONCE));
    expect(err.code).toBe("ENTRA_SIGNIN_TOKEN");
  });

  it("says the issuer is unavailable when its keys cannot be read", async () => {
    const gone = await startTenant();
    const authorityHost = gone.authorityHost;
    await gone.close();
    const err = await refusal(verifier({ authorityHost }).verify("a.b.c", NONCE));
    expect(err.code).toBe("ENTRA_SIGNIN_UNAVAILABLE");
    expect(err.status).toBe(503);
  });
});
