import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenProvider, type TokenProviderSettings } from "../../src/auth/createTokenProvider.js";
import { AuthenticationError } from "../../src/auth/errors.js";
import { ManagedIdentityTokenProvider } from "../../src/auth/managedIdentityTokenProvider.js";
import { MsalTokenProvider } from "../../src/auth/msalTokenProvider.js";
import {
  createTestCertificate,
  secretApp,
  startTokenServer,
  writeTestFile,
  type TestCertificate,
  type TokenServer,
} from "../helpers/tokenServer.js";

const SCOPE = "https://api.securitycenter.microsoft.com/.default";
const app = secretApp();
const certApp = secretApp({ clientSecret: undefined });
let cert: TestCertificate;
let server: TokenServer;

beforeAll(async () => {
  cert = await createTestCertificate();
  certApp.certificatesPem = [cert.certPem];
  server = await startTokenServer({ apps: [app, certApp] });
});

afterAll(async () => {
  await server.close();
});

const base = (): TokenProviderSettings => ({
  tenantId: server.tenantId,
  clientId: app.clientId,
  authorityHost: server.authorityHost,
  scope: SCOPE,
  ca: server.caPem,
});

async function configFailure(settings: TokenProviderSettings): Promise<string> {
  const err = await createTokenProvider(settings).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  expect((err as AuthenticationError).code).toBe("AUTH_CONFIG");
  return (err as AuthenticationError).message;
}

describe("createTokenProvider", () => {
  it("builds a client-secret provider that gets a token", async () => {
    const provider = await createTokenProvider({ ...base(), clientSecret: app.clientSecret });
    expect(provider).toBeInstanceOf(MsalTokenProvider);
    const token = await provider.getToken();
    expect(server.service.verifyBearer(`Bearer ${token}`)).toMatchObject({
      ok: true,
      caller: { appId: app.clientId },
    });
  });

  it("builds a certificate provider from an encrypted PEM file and its password", async () => {
    const password = randomUUID();
    const key = cert.privateKey
      .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: password })
      .toString();
    const certificatePath = await writeTestFile(server.dir, "client.pem", `${cert.certPem}\n${key}`);
    const provider = await createTokenProvider({
      ...base(),
      clientId: certApp.clientId,
      certificatePath,
      certificatePassword: password,
    });
    const token = await provider.getToken();
    expect(server.service.verifyBearer(`Bearer ${token}`)).toMatchObject({
      ok: true,
      caller: { appId: certApp.clientId },
    });
  });

  it("builds a federated provider that reads the token file", async () => {
    const federatedTokenFile = `${server.dir}/federated.jwt`;
    const provider = await createTokenProvider({ ...base(), federatedTokenFile });
    expect(provider).toBeInstanceOf(MsalTokenProvider);
    expect(provider.description).toContain(federatedTokenFile);
  });

  it("builds a managed identity provider, user-assigned when a client id is given", async () => {
    const provider = await createTokenProvider({ ...base(), useManagedIdentity: true });
    expect(provider).toBeInstanceOf(ManagedIdentityTokenProvider);
    expect(provider.description).toContain(`user-assigned, client id ${app.clientId}`);
    const { clientId: _c, ...withoutClient } = base();
    const system = await createTokenProvider({ ...withoutClient, useManagedIdentity: true });
    expect(system.description).toContain("system-assigned");
  });

  it("asks for a credential by its variable names when none is set", async () => {
    const message = await configFailure(base());
    for (const name of [
      "AZURE_CLIENT_SECRET",
      "AZURE_CLIENT_CERTIFICATE_PATH",
      "AZURE_FEDERATED_TOKEN_FILE",
    ]) {
      expect(message).toContain(name);
    }
  });

  it("refuses two credentials at once, naming them without their values", async () => {
    const secret = `s-${randomUUID()}`;
    const file = `/nowhere/${randomUUID()}.jwt`;
    const message = await configFailure({ ...base(), clientSecret: secret, federatedTokenFile: file });
    expect(message).toContain("AZURE_CLIENT_SECRET and AZURE_FEDERATED_TOKEN_FILE");
    expect(message).not.toContain(secret);
    expect(message).not.toContain(file);
  });

  it("refuses managed identity combined with a secret", async () => {
    const secret = `s-${randomUUID()}`;
    const message = await configFailure({ ...base(), useManagedIdentity: true, clientSecret: secret });
    expect(message).toContain("AZURE_CLIENT_SECRET");
    expect(message).not.toContain(secret);
  });

  it("names a missing tenant or client id", async () => {
    const { tenantId: _t, clientId: _c, ...rest } = base();
    const message = await configFailure({ ...rest, clientSecret: app.clientSecret });
    expect(message).toContain("AZURE_TENANT_ID and AZURE_CLIENT_ID must be set");
  });

  it("rejects an http: authority host", async () => {
    const message = await configFailure({
      ...base(),
      clientSecret: app.clientSecret,
      authorityHost: "http://127.0.0.1:1",
    });
    expect(message).toContain("https://");
  });
});
