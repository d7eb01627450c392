import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { AuthenticationError } from "./errors.js";

/**
 * Reads the PEM file named by AZURE_CLIENT_CERTIFICATE_PATH, as @azure/identity accepts it: one or
 * more CERTIFICATE blocks and one private key (PKCS#8 or PKCS#1, optionally encrypted). msal-node
 * wants a decrypted PKCS#8 key and the SHA-256 thumbprint of the certificate that belongs to it.
 */
export interface ClientCertificate {
  privateKeyPem: string;
  /** Hex SHA-256 of the DER certificate, as `x5t#S256` carries it. */
  thumbprintSha256: string;
  /** The certificate chain as PEM, leaf first, for subject-name/issuer authentication. */
  x5c?: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;
const KEY_LABELS = new Set(["PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY"]);

function configError(message: string): AuthenticationError {
  return new AuthenticationError("AUTH_CONFIG", message);
}

function decryptKey(pem: string, path: string, password: string | undefined): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: "pem", ...(password ? { passphrase: password } : {}) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const encrypted = /ENCRYPTED/.test(pem);
    if (encrypted && !password) {
      throw configError(`the private key in ${path} is encrypted: set AZURE_CLIENT_CERTIFICATE_PASSWORD`);
    }
    if (encrypted) {
      throw configError(
        `the private key in ${path} could not be decrypted (${code || "bad decrypt"}): check AZURE_CLIENT_CERTIFICATE_PASSWORD`,
      );
    }
    throw configError(`the private key in ${path} could not be read (${code || "invalid key"})`);
  }
}

function parseCertificate(pem: string, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw configError(`a CERTIFICATE block in ${path} is not a valid X.509 certificate`);
  }
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: "spki", format: "der" });
}

export async function loadClientCertificate(path: string, password?: string): Promise<ClientCertificate> {
  let text: string;
  try {
    text = await readFile(path, "latin1");
  } catch (err) {
    throw configError(
      `cannot read the certificate file ${path} (${(err as NodeJS.ErrnoException).code ?? "error"}): check AZURE_CLIENT_CERTIFICATE_PATH`,
    );
  }
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] ?? "", pem: m[0] }));
  if (blocks.length === 0) {
    throw configError(
      `${path} is not a PEM file: AZURE_CLIENT_CERTIFICATE_PATH must name a PEM file holding the certificate and its private key (convert a PFX with: openssl pkcs12 -in cert.pfx -out cert.pem -nodes)`,
    );
  }
  const certs = blocks.filter((b) => b.label === "CERTIFICATE").map((b) => parseCertificate(b.pem, path));
  if (certs.length === 0) {
    throw configError(`${path} contains no CERTIFICATE block: add the certificate next to its private key`);
  }
  const keyBlocks = blocks.filter((b) => KEY_LABELS.has(b.label));
  if (keyBlocks.length === 0) {
    throw configError(`${path} contains no PRIVATE KEY block: add the certificate's private key to the file`);
  }
  if (keyBlocks.length > 1) {
    throw configError(`${path} contains more than one private key: keep only the certificate's own`);
  }

  const key = decryptKey((keyBlocks[0] as { pem: string }).pem, path, password);
  if (key.asymmetricKeyType !== "rsa") {
    throw configError(
      `the private key in ${path} is ${key.asymmetricKeyType ?? "unknown"}; Entra certificate credentials need an RSA key`,
    );
  }
  const publicDer = spki(createPublicKey(key));
  const leaf = certs.find((c) => spki(c.publicKey).equals(publicDer));
  if (!leaf) throw configError(`no certificate in ${path} matches its private key`);

  const chain = [leaf, ...certs.filter((c) => c !== leaf)];
  return {
    privateKeyPem: key.export({ type: "pkcs8", format: "pem" }).toString(),
    thumbprintSha256: createHash("sha256").update(leaf.raw).digest("hex"),
    x5c: chain.map((c) => c.toString().trim()).join("\n"),
  };
}
