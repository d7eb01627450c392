// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { KeyObject, webcrypto } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

/**
 * The simulator speaks HTTPS like the real API, so clients exercise their real TLS path. Each run
 * gets a throw-away CA that clients are told to trust (a file, or a PEM string), and a server
 * certificate signed by it. ECDSA P-256 keeps generation fast, and node:https and undici (which
 * also carries the product's msal-node traffic) accept it.
 */
export interface SimulatorTls {
  caCertPem: string;
  certPem: string;
  keyPem: string;
  caFile: string;
}

const keyAlgorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;
const alwaysTrusted = ["localhost", "127.0.0.1", "::1"];

x509.cryptoProvider.set(webcrypto);

function generalName(host: string): x509.JsonGeneralName {
  return isIP(host) === 0 ? { type: "dns", value: host } : { type: "ip", value: host };
}

function privateKeyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }).toString();
}

/** Generates a throw-away CA and a server certificate for the given hostnames/IPs (SANs), writes the CA PEM to `${dir}/ca.pem`. */
export async function createSimulatorTls(options: {
  hostnames: string[];
  dir: string;
}): Promise<SimulatorTls> {
  const now = Date.now();
  const notBefore = new Date(now - 60 * 60 * 1000);
  const notAfter = new Date(now + 30 * 24 * 60 * 60 * 1000);

  const caKeys = await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=mde-live-response-mcp simulator CA",
    keys: caKeys,
    notBefore,
    notAfter,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const hosts = [...new Set([...alwaysTrusted, ...options.hostnames])];
  const serverKeys = await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
  const serverCert = await x509.X509CertificateGenerator.create({
    subject: "CN=localhost",
    issuer: caCert.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map(generalName)),
      await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });

  const caCertPem = caCert.toString("pem");
  await mkdir(options.dir, { recursive: true });
  const caFile = join(options.dir, "ca.pem");
  await writeFile(caFile, caCertPem + "\n");
  return {
    caCertPem,
    certPem: serverCert.toString("pem"),
    keyPem: privateKeyPem(serverKeys.privateKey),
    caFile,
  };
}
