import { createHash, X509Certificate } from "node:crypto";
import { z } from "zod";
import { entraError, type EntraError } from "./entraError.js";
import { decodeJwt, SUPPORTED_ASSERTION_ALGORITHMS, verifyJwtSignature } from "./jwt.js";

/**
 * Checks a `client_assertion` as Entra does for certificate credentials: signed RS256/PS256 by the
 * key of a certificate registered on the app (picked by `x5t#S256` or `x5t` when present), for this
 * token endpoint, issued by and about the app itself, and within its time range.
 *
 * A used `jti` is deliberately accepted again: msal-node reuses its signed assertion for up to ten
 * minutes and a projected federated token is reused for its whole life, and Entra accepts both.
 */

const AssertionClaimsSchema = z.looseObject({
  aud: z.union([z.string(), z.array(z.string())]),
  iss: z.string(),
  sub: z.string(),
  exp: z.number(),
  nbf: z.number().optional(),
});

/** Clock skew tolerated for an assertion issued slightly in the client's future. */
const NOT_BEFORE_SKEW_SECONDS = 300;

export interface AssertionInput {
  assertion: string;
  clientId: string;
  certificatesPem: readonly string[];
  /** Every URL this request's token endpoint is known by. */
  acceptedAudiences: readonly string[];
  nowSeconds: number;
}

function thumbprint(cert: X509Certificate, algorithm: "sha1" | "sha256"): string {
  return createHash(algorithm).update(cert.raw).digest("base64url");
}

function invalid(aadsts: number, message: string): EntraError {
  return entraError(401, "invalid_client", aadsts, message);
}

function parseCertificates(pems: readonly string[]): X509Certificate[] {
  const certs: X509Certificate[] = [];
  for (const pem of pems) {
    try {
      certs.push(new X509Certificate(pem));
    } catch {
      // A scenario with a broken certificate simply has one key fewer, as an expired upload would.
    }
  }
  return certs;
}

/** Returns undefined when the assertion is valid, otherwise the error Entra would answer. */
export function checkClientAssertion(input: AssertionInput): EntraError | undefined {
  const jwt = decodeJwt(input.assertion);
  if (!jwt) return invalid(50027, "JWT token is invalid or malformed.");
  if (!(SUPPORTED_ASSERTION_ALGORITHMS as readonly string[]).includes(jwt.header.alg)) {
    return invalid(
      50027,
      `JWT token is invalid or malformed. The signing algorithm must be one of ${SUPPORTED_ASSERTION_ALGORITHMS.join(", ")}.`,
    );
  }
  const claims = AssertionClaimsSchema.safeParse(jwt.payload);
  if (!claims.success) {
    return invalid(50027, "JWT token is invalid or malformed. It must carry aud, iss, sub and exp.");
  }

  const sha256 = jwt.header["x5t#S256"];
  const sha1 = jwt.header.x5t;
  const candidates = parseCertificates(input.certificatesPem).filter((cert) =>
    sha256 !== undefined
      ? thumbprint(cert, "sha256") === sha256
      : sha1 !== undefined
        ? thumbprint(cert, "sha1") === sha1
        : true,
  );
  if (candidates.length === 0) {
    return invalid(
      700027,
      "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]",
    );
  }
  const signer = candidates.find((cert) => verifyJwtSignature(jwt, cert.publicKey));
  if (!signer) return invalid(700027, "Client assertion failed signature validation.");

  const now = input.nowSeconds;
  if (Date.parse(signer.validTo) / 1000 < now || Date.parse(signer.validFrom) / 1000 > now) {
    return invalid(700027, "The certificate used to sign the client assertion is expired or not yet valid.");
  }

  const { aud, iss, sub, exp, nbf } = claims.data;
  const clientId = input.clientId.toLowerCase();
  if (iss.toLowerCase() !== clientId || sub.toLowerCase() !== clientId) {
    return invalid(700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
  }
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => input.acceptedAudiences.includes(a))) {
    return invalid(
      700212,
      `Client assertion audience is not valid. It must be this tenant's token endpoint: ${input.acceptedAudiences[0] ?? ""}.`,
    );
  }
  if (exp <= now || (nbf !== undefined && nbf > now + NOT_BEFORE_SKEW_SECONDS)) {
    return invalid(700024, "Client assertion is not within its valid time range.");
  }
  return undefined;
}
