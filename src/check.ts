import type { Writable } from "node:stream";
import { createTokenProvider } from "./auth/createTokenProvider.js";
import type { TokenProvider } from "./auth/tokenProvider.js";
import type { Settings } from "./config/settings.js";
import { DefenderClient } from "./defender/defenderClient.js";
import { DefenderApiError } from "./defender/errors.js";
import { createLogger } from "./logger.js";
import { openApiTarget, type ApiTarget } from "./server/apiTarget.js";

/**
 * `mde-live-response-mcp check`: walks the path every tool call takes (configuration, token, the API's
 * read endpoints) and says, step by step, what works and what to fix. It reads only; it never starts
 * a live response action.
 */

const REQUIRED_ROLES: ReadonlyArray<{ role: readonly string[]; why: string }> = [
  { role: ["Machine.LiveResponse"], why: "run live response and cancel actions" },
  { role: ["Machine.Read.All", "Machine.ReadWrite.All"], why: "read machines, actions and result links" },
  { role: ["Library.Manage"], why: "list the live response library" },
];

/** The `roles` claim of an access token, read without verifying it: only to explain a 403 in advance. */
export function tokenRoles(accessToken: string): string[] | undefined {
  const payload = accessToken.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { roles?: unknown };
    return Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [];
  } catch {
    return undefined;
  }
}

function explain(err: unknown): string {
  if (err instanceof DefenderApiError && err.status === 403) {
    return `${err.message} (grant the app the permission in Entra ID and give admin consent)`;
  }
  return err instanceof Error ? err.message : String(err);
}

export async function runCheck(settings: Settings, out: Writable): Promise<number> {
  const logger = createLogger({ level: settings.LOG_LEVEL });
  const target = await openApiTarget(settings, logger);
  try {
    return await checkTarget(target, settings, out);
  } finally {
    await target.close();
  }
}

async function checkTarget(target: ApiTarget, settings: Settings, out: Writable): Promise<number> {
  let failures = 0;
  const line = (ok: boolean, text: string): void => {
    if (!ok) failures += 1;
    out.write(`${ok ? "ok  " : "FAIL"} ${text}\n`);
  };

  const { endpoints } = target;
  line(
    true,
    `API ${endpoints.apiBaseUrl}, authority ${endpoints.authorityHost}, scope ${endpoints.scope}${target.simulated ? " (embedded simulator)" : ""}`,
  );

  let tokenProvider: TokenProvider;
  try {
    tokenProvider = await createTokenProvider(target.tokenSettings);
  } catch (err) {
    line(false, `credentials: ${explain(err)}`);
    return 1;
  }

  let token: string;
  try {
    token = await tokenProvider.getToken();
    line(true, `token acquired (${tokenProvider.description})`);
  } catch (err) {
    line(false, `token: ${explain(err)}`);
    return 1;
  }
  const roles = tokenRoles(token);
  if (roles !== undefined) {
    for (const { role, why } of REQUIRED_ROLES) {
      const has = role.some((r) => roles.includes(r));
      line(has, `permission ${role.join(" or ")}${has ? "" : ` missing: needed to ${why}`}`);
    }
  }

  const client = new DefenderClient({
    apiBaseUrl: endpoints.apiBaseUrl,
    tokenProvider,
    timeScale: settings.MDE_TIME_SCALE,
    ca: target.ca,
  });
  const probes: Array<[string, () => Promise<string>]> = [
    [
      "machines",
      async () => `${(await client.listMachines({ top: 1 })).items.length ? "readable" : "none visible"}`,
    ],
    [
      "machine actions",
      async () => `${(await client.listMachineActions({ top: 1 })).items.length} recent read`,
    ],
    ["library", async () => `${(await client.listLibraryFiles()).items.length} file(s)`],
  ];
  for (const [name, probe] of probes) {
    try {
      line(true, `${name}: ${await probe()}`);
    } catch (err) {
      line(false, `${name}: ${explain(err)}`);
    }
  }
  await client.close();
  return failures === 0 ? 0 : 1;
}
