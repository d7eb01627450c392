import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { z } from "zod";

/**
 * Who is calling over HTTP: an API key's holder, or the user or app an Entra ID token was issued to.
 * Sessions are bound to `id`; `name` is what the audit log and the MDE comment show.
 */
export const PrincipalSchema = z.object({
  /** `anonymous`: a loopback server with no authentication configured (every caller is this one). */
  kind: z.enum(["api_key", "user", "app", "anonymous"]),
  /** Stable and unique: `key:<name>`, `entra:<object id>` or `anonymous`. */
  id: z.string().min(1),
  /** For people reading logs: the key's name, the user's UPN, or the app's display name or id. */
  name: z.string().min(1),
  /** Entra ID tenant of a token's principal. */
  tenantId: z.string().optional(),
});
export type Principal = z.infer<typeof PrincipalSchema>;

export const ANONYMOUS: Principal = { kind: "anonymous", id: "anonymous", name: "anonymous" };

/**
 * The request's `AuthInfo` as the SDK hands it to every handler (`extra.authInfo`). For a bearer
 * token, `token` is the caller's own access token: kept for an On-Behalf-Of exchange, never sent to
 * Defender (Defender calls use the server's credentials). For an API key it is empty.
 */
export function authInfoFor(
  principal: Principal,
  grant: { token: string; clientId: string; scopes: string[]; expiresAt?: number | undefined },
): AuthInfo {
  return {
    token: grant.token,
    clientId: grant.clientId,
    scopes: grant.scopes,
    ...(grant.expiresAt === undefined ? {} : { expiresAt: grant.expiresAt }),
    extra: { principal },
  };
}

/** The principal of a request handler's `extra` (over HTTP); undefined over stdio. */
export function principalOf(extra: { authInfo?: AuthInfo | undefined }): Principal | undefined {
  const parsed = PrincipalSchema.safeParse(extra.authInfo?.extra?.principal);
  return parsed.success ? parsed.data : undefined;
}
