import "reflect-metadata";
import { randomUUID, webcrypto, KeyObject } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import type { AppRegistration } from "../../src/simulator/scenario.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import {
  createTokenService,
  type TokenService,
  type TokenServiceOptions,
} from "../../src/simulator/tokenService.js";

/**
 * A real HTTPS server on 127.0.0.1 serving only the simulator's token service, plus test
 * certificates for certificate credentials. Shared by the auth and token service tests.
 */
export interface TokenServer {
  /** https://127.0.0.1:<port> */
  authorityHost: string;
  tenantId: string;
  caPem: string;
  /** A scratch directory for files a test writes; removed by close(). */
  dir: string;
  service: TokenService;
  /** Every request the server received, as "METHOD /path". */
  requests: string[];
  close(): Promise<void>;
}

export type TokenServerOptions = Partial<Omit<TokenServiceOptions, "authorityHost" | "apps">> & {
  apps?: AppRegistration[];
};

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = await mkdtemp(join(tmpdir(), "token-server-"));
  const tls = await createSimulatorTls({ hostnames: [], dir });
  const tenantId = options.tenantId ?? randomUUID();
  let authorityHost = "";
  const requests: string[] = [];
  const service = createTokenService({
    ...options,
    tenantId,
    apps: options.apps ?? [],
    authorityHost: () => authorityHost,
  });
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const url = new URL(req.url ?? "/", authorityHost);
    requests.push(`${req.method} ${url.pathname}`);
    service.handle(req, res, url).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  authorityHost = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    authorityHost,
    tenantId,
    caPem: tls.caCertPem,
    dir,
    service,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function secretApp(overrides: Partial<AppRegistration> = {}): AppRegistration {
  return {
    clientId: randomUUID(),
    displayName: "test secret app",
    clientSecret: `secret-${randomUUID()}`,
    certificatesPem: [],
    roles: ["Machine.LiveResponse", "Machine.Read.All"],
    ...overrides,
  };
}

export interface TestCertificate {
  certPem: string;
  /** PKCS#8, unencrypted. */
  keyPem: string;
  privateKey: KeyObject;
}

x509.cryptoProvider.set(webcrypto);

/** A self-signed RSA certificate, as an app registration's certificate credential would be. */
export async function createTestCertificate(
  options: { notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCertificate> {
  const alg = {
    name: "RSASSA-PKCS1-v1_5",
    hash: "SHA-256",
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=test client certificate",
    keys,
    notBefore: options.notBefore ?? new Date(Date.now() - 3_600_000),
    notAfter: options.notAfter ?? new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
  });
  const privateKey = KeyObject.from(keys.privateKey);
  return {
    certPem: cert.toString("pem"),
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    privateKey,
  };
}

export async function writeTestFile(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}
