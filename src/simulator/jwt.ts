import { constants, sign, verify, type KeyObject } from "node:crypto";
import { z } from "zod";

/**
 * The compact JWS handling the token service needs: RS256 signing of the tokens it issues, and
 * RS256/PS256 verification of client assertions and bearer tokens. node:crypto does the cryptography;
 * this file only handles the encoding, so no JWT library is needed.
 */

export const JwtHeaderSchema = z.looseObject({
  alg: z.string(),
  typ: z.string().optional(),
  kid: z.string().optional(),
  x5t: z.string().optional(),
  "x5t#S256": z.string().optional(),
});
export type JwtHeader = z.infer<typeof JwtHeaderSchema>;

export interface DecodedJwt {
  header: JwtHeader;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

const PayloadSchema = z.record(z.string(), z.unknown());

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

function decodeSegment(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as unknown;
}

export function signJwtRs256(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  privateKey: KeyObject,
): string {
  const signingInput = `${encodeSegment({ ...header, alg: "RS256" })}.${encodeSegment(payload)}`;
  const signature = sign("sha256", Buffer.from(signingInput), privateKey);
  return `${signingInput}.${signature.toString("base64url")}`;
}

/** Parses a compact JWS without checking its signature; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return undefined;
  const [h, p, s] = parts as [string, string, string];
  try {
    const header = JwtHeaderSchema.safeParse(decodeSegment(h));
    const payload = PayloadSchema.safeParse(decodeSegment(p));
    if (!header.success || !payload.success) return undefined;
    return {
      header: header.data,
      payload: payload.data,
      signingInput: `${h}.${p}`,
      signature: Buffer.from(s, "base64url"),
    };
  } catch {
    return undefined;
  }
}

export const SUPPORTED_ASSERTION_ALGORITHMS = ["RS256", "PS256"] as const;

/** RS256 or PS256 (salt length = digest length, RFC 7518 §3.5) with an RSA public key. */
export function verifyJwtSignature(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  // Without this check an EC key would verify "RS256" as ECDSA.
  if (publicKey.asymmetricKeyType !== "rsa") return false;
  const data = Buffer.from(jwt.signingInput);
  switch (jwt.header.alg) {
    case "RS256":
      return verify("sha256", data, publicKey, jwt.signature);
    case "PS256":
      return verify(
        "sha256",
        data,
        {
          key: publicKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        },
        jwt.signature,
      );
    default:
      return false;
  }
}
