import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, readSettings } from "../../src/config/settings.js";
import {
  clearedPendingCookie,
  pendingCookie,
  pendingFromCookieHeader,
} from "../../src/review/entraPendingCookie.js";
import {
  createEntraReviewerSignIn,
  type EntraReviewerSignIn,
  type EntraSignInStart,
} from "../../src/review/entraSignIn.js";
import { entraSignInConfigFrom } from "../../src/review/entraSignInConfig.js";
import { handleEntraSignIn } from "../../src/review/entraSignInRoutes.js";
import { EntraSignInError } from "../../src/review/entraSignInError.js";
import {
  defaultScenario,
  parseScenario,
  startSimulator,
  type RunningSimulator,
} from "../../src/simulator/index.js";
import { capturingLogger } from "../defender/clientFixture.js";
import { createTestCertificate, secretApp, writeTestFile } from "../helpers/tokenServer.js";
import { formOf, signInAs, visit } from "../helpers/entraSignInPages.js";

const PUBLIC_URL = "https://review.contoso.test";
const REDIRECT = `${PUBLIC_URL}/review/signin/entra/callback`;
/** A console on loopback: Entra ID matches it whatever its port. */
const LOCAL_REDIRECT = "http://127.0.0.1/review/signin/entra/callback";
const ROLE = "LiveResponse.Reviewer";
const REVIEWER = { upn: "ana@contoso.com", password: "ana's long password" };
const NO_ROLE = { upn: "bob@contoso.com", password: "bob's long password" };

let sim: RunningSimulator;
let browser: Agent;
const { logger, lines } = capturingLogger();
let signIn: EntraReviewerSignIn;
const errors: string[] = [];
/** Sign-in codes and PKCE verifiers the flows used: none may reach a log line or an error. */
const secretsSeen: string[] = [];

function scenario() {
  const base = defaultScenario();
  const [app, ...rest] = base.apps;
  return parseScenario({
    ...base,
    apps: [{ ...app, redirectUris: [REDIRECT, LOCAL_REDIRECT] }, ...rest],
    users: [
      { ...REVIEWER, displayName: "Ana Reviewer", roles: [ROLE], deviceGroups: [] },
      { ...NO_ROLE, deviceGroups: [] },
    ],
  });
}

function tokenSettings() {
  return {
    tenantId: sim.tenantId,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    authorityHost: sim.authorityHost,
    scope: "https://api.securitycenter.microsoft.com/.default",
    ca: sim.caCertPem,
  };
}

async function signInWith(publicUrl = PUBLIC_URL, requiredRole: string | null = ROLE) {
  return createEntraReviewerSignIn({
    config:
      entraSignInConfigFrom(
        readSettings({
          MDE_SIMULATOR: "1",
          MDE_REVIEW_ENTRA: "1",
          MDE_REVIEW_PUBLIC_URL: publicUrl,
          ...(requiredRole ? { MDE_REVIEW_ENTRA_ROLE: requiredRole } : {}),
        }),
      ) ?? expect.unreachable("Entra sign-in is on"),
    tokenSettings: tokenSettings(),
    logger,
  });
}

beforeAll(async () => {
  sim = await startSimulator({ scenario: scenario(), timeScale: 60 });
  browser = new Agent({ connect: { ca: sim.caCertPem } });
  signIn = await signInWith();
});

afterAll(async () => {
  await signIn.close();
  await browser.close();
  await sim.close();
});

/** begin → the authorize page → the credentials posted → the callback's query. */
async function throughEntra(
  start: EntraSignInStart,
  user: { upn: string; password: string } = REVIEWER,
): Promise<URLSearchParams> {
  const answer = await signInAs(browser, start.redirectUrl, user);
  expect(answer.status).toBe(302);
  const callback = new URL(answer.location ?? "");
  expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT);
  const pending = JSON.parse(Buffer.from(start.pending, "base64url").toString()) as { v: string };
  secretsSeen.push(callback.searchParams.get("code") ?? "", pending.v);
  return callback.searchParams;
}

async function refusal(promise: Promise<unknown>): Promise<EntraSignInError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(EntraSignInError);
    errors.push((err as Error).message);
    return err as EntraSignInError;
  }
  return expect.unreachable("the sign-in should have been refused");
}

describe("reviewer sign-in with Entra ID (msal-node against the simulator)", () => {
  it("signs a reviewer in: state, PKCE S256, nonce, and the reviewer's UPN and object id", async () => {
    const start = await signIn.begin();
    const authorize = new URL(start.redirectUrl);
    expect(authorize.pathname).toBe(`/${sim.tenantId}/oauth2/v2.0/authorize`);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("redirect_uri")).toBe(REDIRECT);
    expect(authorize.searchParams.get("state")).toBe(start.state);
    expect(authorize.searchParams.get("nonce")).toBeTruthy();
    expect(start.redirectUrl).not.toContain(start.pending);

    const query = await throughEntra(start);
    const reviewer = await signIn.complete(query, start.pending);
    expect(reviewer).toEqual({
      reviewer: REVIEWER.upn,
      oid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: "Ana Reviewer",
    });
    expect(lines.join("")).toContain("reviewer signed in with Entra ID");
  });

  it("shows a wrong password on Entra's page; a cancelled sign-in is refused with Entra's reason", async () => {
    const start = await signIn.begin();
    const page = await visit(browser, start.redirectUrl);
    const form = formOf(page, start.redirectUrl);
    const wrong = await visit(browser, form.action, {
      flowToken: form.flowToken,
      login: REVIEWER.upn,
      passwd: "not the password",
      action: "signin",
    });
    expect(wrong.status).toBe(200);
    expect(wrong.location).toBeUndefined();
    expect(wrong.text).toContain("Your account or password is incorrect.");
    const cancelled = await visit(browser, form.action, { flowToken: form.flowToken, action: "cancel" });
    const query = new URL(cancelled.location ?? "").searchParams;
    const err = await refusal(signIn.complete(query, start.pending));
    expect(err.code).toBe("ENTRA_SIGNIN_DENIED");
    expect(err.message).toContain("access_denied");
    expect(err.message).toContain("AADSTS65004");
  });

  it("refuses an answer whose state is not the browser's sign-in, without redeeming its code", async () => {
    const mine = await signIn.begin();
    const theirs = await signIn.begin();
    const query = await throughEntra(theirs);
    const err = await refusal(signIn.complete(query, mine.pending));
    expect(err.code).toBe("ENTRA_SIGNIN_STATE");
    expect(err.message).toContain("state mismatch");
    // The code was not spent: its own browser still completes.
    expect((await signIn.complete(query, theirs.pending)).reviewer).toBe(REVIEWER.upn);
  });

  it("refuses a callback with no pending sign-in cookie", async () => {
    const start = await signIn.begin();
    const query = await throughEntra(start);
    const err = await refusal(signIn.complete(query, undefined));
    expect(err.code).toBe("ENTRA_SIGNIN_STATE");
    expect(err.status).toBe(400);
  });

  it("refuses a code redeemed twice", async () => {
    const start = await signIn.begin();
    const query = await throughEntra(start);
    await signIn.complete(query, start.pending);
    const err = await refusal(signIn.complete(query, start.pending));
    expect(err.code).toBe("ENTRA_SIGNIN_CODE");
    expect(err.message).toContain("AADSTS54005");
  });

  it("refuses a code with another PKCE verifier than its challenge's", async () => {
    const start = await signIn.begin();
    const query = await throughEntra(start);
    const pending = JSON.parse(Buffer.from(start.pending, "base64url").toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...pending, v: "x".repeat(43) })).toString("base64url");
    const err = await refusal(signIn.complete(query, forged));
    expect(err.code).toBe("ENTRA_SIGNIN_CODE");
    expect(err.message).toContain("AADSTS50148");
  });

  it("never lets Entra send a reviewer to a redirect URI the app registration does not list", async () => {
    const elsewhere = await signInWith("https://phish.example");
    try {
      const start = await elsewhere.begin();
      const page = await visit(browser, start.redirectUrl);
      expect(page.status).toBe(400);
      expect(page.location).toBeUndefined();
      expect(page.text).toContain("AADSTS50011");
    } finally {
      await elsewhere.close();
    }
  });

  it("refuses a person without the required app role, naming the role", async () => {
    const start = await signIn.begin();
    const query = await throughEntra(start, NO_ROLE);
    const err = await refusal(signIn.complete(query, start.pending));
    expect(err.code).toBe("ENTRA_SIGNIN_ROLE");
    expect(err.status).toBe(403);
    expect(err.message).toContain(NO_ROLE.upn);
    expect(err.message).toContain(ROLE);
  });

  it("lets any user of the tenant in when no role is required, and warns at start", async () => {
    const open = await signInWith(PUBLIC_URL, null);
    try {
      expect(lines.join("")).toContain("MDE_REVIEW_ENTRA_ROLE is not set");
      const start = await open.begin();
      const reviewer = await open.complete(await throughEntra(start, NO_ROLE), start.pending);
      expect(reviewer.reviewer).toBe(NO_ROLE.upn);
    } finally {
      await open.close();
    }
  });

  it("redeems the code with a certificate credential too", async () => {
    const cert = await createTestCertificate();
    const certApp = secretApp({
      clientSecret: undefined,
      certificatesPem: [cert.certPem],
      redirectUris: [REDIRECT],
    });
    sim.tokenService.registerApp(certApp);
    const dir = await mkdtemp(join(tmpdir(), "entra-sign-in-"));
    try {
      const certificatePath = await writeTestFile(dir, "app.pem", `${cert.certPem}\n${cert.keyPem}`);
      const withCertificate = await createEntraReviewerSignIn({
        config: { redirectUri: REDIRECT, requiredRole: ROLE },
        tokenSettings: {
          ...tokenSettings(),
          clientId: certApp.clientId,
          clientSecret: undefined,
          certificatePath,
        },
        logger,
      });
      try {
        const start = await withCertificate.begin();
        const reviewer = await withCertificate.complete(await throughEntra(start), start.pending);
        expect(reviewer.reviewer).toBe(REVIEWER.upn);
      } finally {
        await withCertificate.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says Entra ID is unavailable when its OpenID configuration cannot be read", async () => {
    sim.setFaults({ tokenEndpointDown: true });
    const unavailable = await signInWith();
    try {
      const err = await refusal(unavailable.begin());
      expect(err.code).toBe("ENTRA_SIGNIN_UNAVAILABLE");
      expect(err.status).toBe(503);
      expect(err.message).toContain("HTTP 503");
    } finally {
      sim.setFaults({});
      await unavailable.close();
    }
  });

  it("puts no token, code, verifier or secret in an error or a log line", () => {
    const logged = lines.join("");
    expect(errors.length).toBeGreaterThanOrEqual(6);
    const secrets = [
      ...sim.issuedTokens(),
      ...secretsSeen,
      sim.clientSecret ?? "",
      REVIEWER.password,
      NO_ROLE.password,
    ];
    expect(secretsSeen.length).toBeGreaterThanOrEqual(16);
    expect(sim.issuedTokens().length).toBeGreaterThanOrEqual(5);
    for (const secret of secrets) {
      expect(logged).not.toContain(secret);
      for (const message of errors) expect(message).not.toContain(secret);
    }
    expect(logged).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\./);
  });
});

describe("the console's Entra routes", () => {
  let consoleServer: http.Server;
  let origin: string;
  let routed: EntraReviewerSignIn;

  beforeAll(async () => {
    consoleServer = http.createServer((req, res) => {
      handleEntraSignIn(req, res, routed, (r) => `mde_review_session=for-${r.reviewer}`).then(
        (handled) => {
          if (!handled) res.writeHead(404).end();
        },
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => consoleServer.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(consoleServer.address() as AddressInfo).port}`;
    routed = await createEntraReviewerSignIn({
      config: { redirectUri: `${origin}/review/signin/entra/callback`, requiredRole: ROLE },
      tokenSettings: tokenSettings(),
      logger,
    });
  });

  afterAll(async () => {
    await routed.close();
    consoleServer.closeAllConnections();
    await new Promise<void>((resolve) => consoleServer.close(() => resolve()));
  });

  const setCookies = (page: { headers: Record<string, string | string[] | undefined> }) =>
    ([] as string[]).concat(page.headers["set-cookie"] ?? []);

  async function get(path: string, cookie?: string) {
    const res = await request(`${origin}${path}`, {
      dispatcher: browser,
      headers: cookie === undefined ? {} : { cookie },
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  it("begins with the pending cookie, and ends with the console's session cookie and the pending one cleared", async () => {
    const begun = await get("/review/signin/entra");
    expect(begun.status).toBe(302);
    const [pending] = setCookies(begun);
    expect(pending).toMatch(
      /^mde_review_entra=[A-Za-z0-9_-]+; Path=\/review\/signin\/entra; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    const answer = await signInAs(browser, String(begun.headers.location), REVIEWER);
    const callback = new URL(answer.location ?? "");
    expect(callback.origin).toBe(origin);
    const cookie = (pending ?? "").split(";")[0] ?? "";
    const done = await get(`${callback.pathname}${callback.search}`, cookie);
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe("/review");
    expect(setCookies(done)).toEqual([
      expect.stringMatching(/^mde_review_entra=; .*Max-Age=0/),
      `mde_review_session=for-${REVIEWER.upn}`,
    ]);

    const replayed = await get(`${callback.pathname}${callback.search}`, cookie);
    expect(replayed.status).toBe(400);
    expect(replayed.text).toContain("ENTRA_SIGNIN_CODE");
    expect(replayed.text).not.toContain(callback.searchParams.get("code") ?? "");
    const noCookie = await get(`${callback.pathname}${callback.search}`);
    expect(noCookie.status).toBe(400);
    expect(noCookie.text).toContain("ENTRA_SIGNIN_STATE");
    expect(setCookies(noCookie)).toEqual([expect.stringMatching(/^mde_review_entra=; .*Max-Age=0/)]);
  });

  it("leaves every other request to the console", async () => {
    expect((await get("/review/signin")).status).toBe(404);
  });
});

describe("the pending sign-in cookie", () => {
  it("is HttpOnly, SameSite=Lax, scoped to the sign-in path, and read back from a Cookie header", () => {
    const set = pendingCookie("abc", 600, true);
    expect(set).toBe(
      "mde_review_entra=abc; Path=/review/signin/entra; Max-Age=600; HttpOnly; SameSite=Lax; Secure",
    );
    expect(clearedPendingCookie(false)).toContain("Max-Age=0");
    expect(clearedPendingCookie(false)).not.toContain("Secure");
    expect(pendingFromCookieHeader("a=1; mde_review_entra=abc; b=2")).toBe("abc");
    expect(pendingFromCookieHeader("a=1")).toBeUndefined();
  });
});

describe("Entra sign-in settings", () => {
  const problems = (env: Record<string, string>) => {
    try {
      entraSignInConfigFrom(readSettings(env));
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    return [];
  };

  it("derives the redirect URI from the public URL, or from MDE_HTTP_PUBLIC_URL", () => {
    const env = { MDE_SIMULATOR: "1", MDE_REVIEW_ENTRA: "1" };
    expect(
      entraSignInConfigFrom(readSettings({ ...env, MDE_REVIEW_PUBLIC_URL: "https://mcp.contoso.com/" })),
    ).toEqual({
      redirectUri: "https://mcp.contoso.com/review/signin/entra/callback",
      requiredRole: undefined,
    });
    expect(
      entraSignInConfigFrom(readSettings({ ...env, MDE_HTTP_PUBLIC_URL: "https://proxy.contoso.com/mcp" }))
        ?.redirectUri,
    ).toBe("https://proxy.contoso.com/mcp/review/signin/entra/callback");
    expect(entraSignInConfigFrom(readSettings({}))).toBeUndefined();
  });

  it("names every mistake at once", () => {
    expect(problems({ MDE_REVIEW_ENTRA: "1", MDE_MANAGED_IDENTITY: "1" })).toEqual([
      expect.stringMatching(/^MDE_REVIEW_PUBLIC_URL: set the review console's external base URL/),
      expect.stringMatching(
        /^MDE_REVIEW_ENTRA: signing reviewers in needs the app registration's own credential/,
      ),
      expect.stringMatching(/^MDE_REVIEW_ENTRA: set AZURE_TENANT_ID and AZURE_CLIENT_ID/),
    ]);
    expect(problems({ MDE_REVIEW_ENTRA_ROLE: ROLE })).toEqual([
      expect.stringMatching(/^MDE_REVIEW_ENTRA_ROLE: .* off until MDE_REVIEW_ENTRA=1/),
    ]);
    expect(
      problems({ MDE_SIMULATOR: "1", MDE_REVIEW_ENTRA: "1", MDE_HTTP_PUBLIC_URL: "http://mcp.contoso.com" }),
    ).toEqual([expect.stringMatching(/^MDE_HTTP_PUBLIC_URL: Entra ID redirects only to https:\/\//)]);
  });

  it("accepts http only on loopback, and no query in the public URL", () => {
    expect(() => readSettings({ MDE_REVIEW_PUBLIC_URL: "http://review.contoso.com" })).toThrow(
      /MDE_REVIEW_PUBLIC_URL must use https:\/\//,
    );
    expect(() => readSettings({ MDE_REVIEW_PUBLIC_URL: "https://review.contoso.com/?x=1" })).toThrow(
      /must not have a query/,
    );
    expect(readSettings({ MDE_REVIEW_PUBLIC_URL: "http://127.0.0.1:8787" }).MDE_REVIEW_PUBLIC_URL).toBe(
      "http://127.0.0.1:8787",
    );
  });
});
