import type { Agent } from "undici";
import { request } from "undici";

/** A tenant's token service, as a test reaches it. */
export interface Tenant {
  authorityHost: string;
  tenantId: string;
}

/** One POST of `form` to the tenant's v2.0 token endpoint, as a client sends a grant; its status and JSON answer. */
export async function postTokenForm(
  dispatcher: Agent,
  tenant: Tenant,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`${tenant.authorityHost}/${tenant.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    dispatcher,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}
