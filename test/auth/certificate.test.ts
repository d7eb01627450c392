import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadClientCertificate } from "../../src/auth/certificate.js";
import { AuthenticationError } from "../../src/auth/errors.js";
import { createTestCertificate, writeTestFile, type TestCertificate } from "../helpers/tokenServer.js";

let dir: string;
let cert: TestCertificate;
let other: TestCertificate;
const PASSWORD = "correct horse battery staple";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "client-cert-"));
  [cert, other] = await Promise.all([createTestCertificate(), createTestCertificate()]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256Hex = (pem: string) => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex");

async function loadFailure(content: string, password?: string): Promise<AuthenticationError> {
  const path = await writeTestFile(dir, `bad-${Math.random().toString(36).slice(2)}.pem`, content);
  const err = await loadClientCertificate(path, password).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthenticationError);
  const e = err as AuthenticationError;
  expect(e.code).toBe("AUTH_CONFIG");
  expect(e.message).toContain(path);
  expect(e.message).not.toContain("PRIVATE KEY-----");
  expect(e.message).not.toContain(PASSWORD);
  return e;
}

describe("loadClientCertificate", () => {
  it("loads a certificate with a PKCS#8 key: decrypted key, SHA-256 thumbprint, x5c", async () => {
    const path = await writeTestFile(dir, "pkcs8.pem", `${cert.certPem}\n${cert.keyPem}`);
    const loaded = await loadClientCertificate(path);
    expect(loaded.thumbprintSha256).toBe(sha256Hex(cert.certPem));
    expect(loaded.thumbprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(loaded.privateKeyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(createPrivateKey(loaded.privateKeyPem).equals(cert.privateKey)).toBe(true);
    expect(loaded.x5c?.trim()).toBe(cert.certPem.trim());
  });

  it("accepts the key first and a PKCS#1 key", async () => {
    const pkcs1 = cert.privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const path = await writeTestFile(dir, "pkcs1.pem", `${pkcs1}\n${cert.certPem}`);
    const loaded = await loadClientCertificate(path);
    expect(loaded.privateKeyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(loaded.thumbprintSha256).toBe(sha256Hex(cert.certPem));
  });

  it("decrypts an encrypted PKCS#8 key with the password", async () => {
    const encrypted = cert.privateKey
      .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: PASSWORD })
      .toString();
    const path = await writeTestFile(dir, "encrypted.pem", `${cert.certPem}\n${encrypted}`);
    const loaded = await loadClientCertificate(path, PASSWORD);
    expect(loaded.privateKeyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(createPrivateKey(loaded.privateKeyPem).equals(cert.privateKey)).toBe(true);
  });

  it("asks for AZURE_CLIENT_CERTIFICATE_PASSWORD when the key is encrypted", async () => {
    const encrypted = cert.privateKey
      .export({ type: "pkcs1", format: "pem", cipher: "aes-256-cbc", passphrase: PASSWORD })
      .toString();
    const content = `${cert.certPem}\n${encrypted}`;
    expect((await loadFailure(content)).message).toContain("set AZURE_CLIENT_CERTIFICATE_PASSWORD");
    expect((await loadFailure(content, "wrong password")).message).toContain(
      "check AZURE_CLIENT_CERTIFICATE_PASSWORD",
    );
  });

  it("puts the certificate that matches the key first in the chain", async () => {
    const path = await writeTestFile(dir, "chain.pem", `${other.certPem}\n${cert.certPem}\n${cert.keyPem}`);
    const loaded = await loadClientCertificate(path);
    expect(loaded.thumbprintSha256).toBe(sha256Hex(cert.certPem));
    expect(loaded.x5c?.indexOf(cert.certPem.trim())).toBe(0);
    expect(loaded.x5c).toContain(other.certPem.trim());
  });

  it("names what is missing or wrong", async () => {
    expect((await loadFailure(cert.keyPem)).message).toContain("no CERTIFICATE block");
    expect((await loadFailure(cert.certPem)).message).toContain("no PRIVATE KEY block");
    expect((await loadFailure("\u0030\u0082binary pfx")).message).toContain("not a PEM file");
    expect((await loadFailure(`${cert.certPem}\n${other.keyPem}`)).message).toContain(
      "matches its private key",
    );
    expect((await loadFailure(`${cert.certPem}\n${cert.keyPem}\n${other.keyPem}`)).message).toContain(
      "more than one private key",
    );
  });

  it("rejects a key Entra cannot use for certificate credentials", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = ec.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect((await loadFailure(`${cert.certPem}\n${key}`)).message).toContain("RSA");
  });

  it("names the file and the variable when it cannot be read", async () => {
    const path = join(dir, "absent.pem");
    await expect(loadClientCertificate(path)).rejects.toThrow(
      expect.objectContaining({
        code: "AUTH_CONFIG",
        message: expect.stringMatching(/absent\.pem \(ENOENT\): check AZURE_CLIENT_CERTIFICATE_PATH/),
      }),
    );
  });
});
