import { createHash, randomUUID, sign, X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadClientCertificate } from "../../src/auth/certificate.js";
import { AuthenticationError } from "../../src/auth/errors.js";
import { MsalTokenProvider, type MsalCredential } from "../../src/auth/msalTokenProvider.js";
import {
  createTestCertificate,
  secretApp,
  startTokenServer,
  writeTestFile,
  type TestCertificate,
  type TokenServer,
} from "../helpers/tokenServer.js";

const SCOPE = "https://api.securitycenter.microsoft.com/.default";

let server: TokenServer;
let down = false;
const app = secretApp();
let cert: TestCertificate;
const certApp = secretApp({ clientSecret: undefined, displayName: "test certificate app" });

/** Hosts every socket of this file tried to reach: proves MSAL talked to nothing but our server. */
const connectedHosts: string[] = [];
const guardedConnect = net.Socket.prototype.connect;

beforeAll(async () => {
  net.Socket.prototype.connect = function recordingConnect(this: net.Socket, ...args: unknown[]) {
    const first = args[0] as { host?: string } | number | undefined;
    if (first && typeof first === "object") connectedHosts.push(first.host ?? "localhost");
    return (guardedConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof guardedConnect;
  cert = await createTestCertificate();
  certApp.certificatesPem = [cert.certPem];
  server = await startTokenServer({ apps: [app, certApp], isDown: () => down });
});

afterAll(async () => {
  net.Socket.prototype.connect = guardedConnect;
  await server.close();
});

beforeEach(() => {
  down = false;
});

afterEach(() => {
  expect(connectedHosts.filter((h) => h !== "127.0.0.1" && h !== "localhost")).toEqual([]);
});

function provider(
  credential: MsalCredential,
  overrides: Partial<ConstructorParameters<typeof MsalTokenProvider>[0]> = {},
) {
  return new MsalTokenProvider({
    tenantId: server.tenantId,
    clientId: app.clientId,
    credential,
    authorityHost: server.authorityHost,
    scope: SCOPE,
    ca: server.caPem,
    ...overrides,
  });
}

const secret = (value = app.clientSecret ?? ""): MsalCredential => ({ kind: "secret", clientSecret: value });

async function failure(p: Promise<unknown>): Promise<AuthenticationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  return err as AuthenticationError;
}

/** A client assertion as a workload identity token file would hold it, signed by the registered certificate. */
function signedAssertion(claims: Record<string, unknown>): string {
  const x5t = createHash("sha256").update(new X509Certificate(cert.certPem).raw).digest("base64url");
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${enc({ alg: "RS256", typ: "JWT", "x5t#S256": x5t })}.${enc({
    aud: `${server.authorityHost}/${server.tenantId}/oauth2/v2.0/token`,
    iss: certApp.clientId,
    sub: certApp.clientId,
    jti: randomUUID(),
    nbf: now,
    exp: now + 600,
    ...claims,
  })}`;
  return `${input}.${sign("sha256", Buffer.from(input), cert.privateKey).toString("base64url")}`;
}

describe("MsalTokenProvider with the simulator's token service", () => {
  it("gets a token with a client secret through real msal-node, asking only our authority host", async () => {
    const before = server.requests.length;
    const token = await provider(secret()).getToken();
    const check = server.service.verifyBearer(`Bearer ${token}`);
    expect(check).toMatchObject({
      ok: true,
      caller: { appId: app.clientId, roles: app.roles, audience: "https://api.securitycenter.microsoft.com" },
    });
    expect(server.requests.slice(before)).toEqual([
      `GET /${server.tenantId}/v2.0/.well-known/openid-configuration`,
      `POST /${server.tenantId}/oauth2/v2.0/token`,
    ]);
    expect(connectedHosts).toContain("127.0.0.1");
  });

  it("accepts the authority host by another loopback name (localhost)", async () => {
    const authorityHost = server.authorityHost.replace("127.0.0.1", "localhost");
    const token = await provider(secret(), { authorityHost }).getToken();
    expect(server.service.verifyBearer(`Bearer ${token}`)).toMatchObject({ ok: true });
  });

  it("reuses MSAL's cached token, and fetches a new one on forceRefresh", async () => {
    const p = provider(secret());
    const first = await p.getToken();
    const issued = server.service.counts().issued;
    expect(await p.getToken()).toBe(first);
    expect(server.service.counts().issued).toBe(issued);
    const refreshed = await p.getToken({ forceRefresh: true });
    expect(server.service.counts().issued).toBe(issued + 1);
    expect(refreshed).not.toBe(first);
  });

  it("renews a token before it expires (inside MSAL's 5-minute renewal margin) without being asked", async () => {
    const shortLived = await startTokenServer({ apps: [app], tokenLifetimeSeconds: 240 });
    try {
      const p = provider(secret(), {
        tenantId: shortLived.tenantId,
        authorityHost: shortLived.authorityHost,
        ca: shortLived.caPem,
      });
      const first = await p.getToken();
      const second = await p.getToken();
      expect(shortLived.service.counts().issued).toBe(2);
      expect(second).not.toBe(first);
    } finally {
      await shortLived.close();
    }
  });

  it("gets tokens with a certificate loaded from a PEM file, again after forceRefresh", async () => {
    const path = await writeTestFile(server.dir, "client.pem", `${cert.certPem}\n${cert.keyPem}`);
    const certificate = await loadClientCertificate(path);
    const p = provider({ kind: "certificate", certificate, path }, { clientId: certApp.clientId });
    const token = await p.getToken();
    expect(server.service.verifyBearer(`Bearer ${token}`)).toMatchObject({
      ok: true,
      caller: { appId: certApp.clientId },
    });
    // msal-node signs one assertion and reuses it for ten minutes; the service must accept that.
    const again = await p.getToken({ forceRefresh: true });
    expect(again).not.toBe(token);
    expect(p.description).toContain("certificate");
  });

  it("re-reads the federated token file for every new token", async () => {
    const file = await writeTestFile(server.dir, "federated.jwt", signedAssertion({ exp: 1 }));
    const p = provider({ kind: "federated", tokenFile: file }, { clientId: certApp.clientId });
    const err = await failure(p.getToken());
    expect(err.code).toBe("AUTH_FAILED");
    expect(err.message).toContain("AZURE_FEDERATED_TOKEN_FILE");
    expect(err.aadsts).toBe(700024);

    await writeFile(file, signedAssertion({}));
    const token = await p.getToken();
    expect(server.service.verifyBearer(`Bearer ${token}`)).toMatchObject({ ok: true });
  });

  it("reports an unreadable federated token file by its variable", async () => {
    const p = provider(
      { kind: "federated", tokenFile: `${server.dir}/missing.jwt` },
      { clientId: certApp.clientId },
    );
    const err = await failure(p.getToken());
    expect(err.code).toBe("AUTH_CONFIG");
    expect(err.message).toContain("AZURE_FEDERATED_TOKEN_FILE");
  });

  it("explains a wrong client secret without repeating it", async () => {
    const wrong = `wrong-${randomUUID()}`;
    const err = await failure(provider(secret(wrong)).getToken());
    expect(err.code).toBe("AUTH_FAILED");
    expect(err.aadsts).toBe(7000215);
    expect(err.message).toContain("check AZURE_CLIENT_SECRET");
    expect(err.message).not.toContain(wrong);
    expect(err.stack ?? "").not.toContain(wrong);
  });

  it("explains an unknown tenant", async () => {
    const err = await failure(provider(secret(), { tenantId: randomUUID() }).getToken());
    expect(err.code).toBe("AUTH_FAILED");
    expect(err.message).toContain("AZURE_TENANT_ID");
  });

  it("explains an unknown client id", async () => {
    const err = await failure(provider(secret(), { clientId: randomUUID() }).getToken());
    expect(err.code).toBe("AUTH_FAILED");
    expect(err.aadsts).toBe(700016);
    expect(err.message).toContain("AZURE_CLIENT_ID");
  });

  it("reports a token service that is down before discovery as unavailable", async () => {
    down = true;
    const err = await failure(provider(secret()).getToken());
    expect(err.code).toBe("AUTH_UNAVAILABLE");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("503");
  });

  it("reports a token endpoint that goes down after discovery as unavailable", async () => {
    const p = provider(secret());
    await p.getToken();
    down = true;
    const err = await failure(p.getToken({ forceRefresh: true }));
    expect(err.code).toBe("AUTH_UNAVAILABLE");
    expect(err.aadsts).toBe(90033);
    expect(err.message).toContain("try again later");
  });

  it("recovers once the token endpoint is back (the 503 carries Retry-After, so MSAL does not replay it for 60 s)", async () => {
    const p = provider(secret());
    await p.getToken();
    down = true;
    await failure(p.getToken({ forceRefresh: true }));
    down = false;
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await expect(p.getToken({ forceRefresh: true })).resolves.toMatch(/^eyJ/);
  });

  it("reports an authority host nobody listens on as unreachable", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(provider(secret(), { authorityHost: `https://127.0.0.1:${port}` }).getToken());
    expect(err.code).toBe("AUTH_UNREACHABLE");
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("reports an authority whose certificate is not trusted", async () => {
    const { ca: _ca, ...withoutCa } = { ca: undefined };
    const p = new MsalTokenProvider({
      tenantId: server.tenantId,
      clientId: app.clientId,
      credential: secret(),
      authorityHost: server.authorityHost,
      scope: SCOPE,
      ...withoutCa,
    });
    const err = await failure(p.getToken());
    expect(err.code).toBe("AUTH_UNREACHABLE");
    expect(err.message).toContain("not trusted");
  });

  it("rejects an http: authority host before sending anything", () => {
    expect(() => provider(secret(), { authorityHost: "http://127.0.0.1:1" })).toThrow(
      expect.objectContaining({ code: "AUTH_CONFIG", message: expect.stringContaining("https://") }),
    );
  });

  it("stops waiting when the caller aborts", async () => {
    const controller = new AbortController();
    const pending = provider(secret()).getToken({ signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await expect(pending).rejects.toThrow("caller gave up");
  });

  it("describes itself without the secret", () => {
    const p = provider(secret());
    expect(p.description).toContain(app.clientId);
    expect(p.description).not.toContain(app.clientSecret);
  });
});
