import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CloudNameSchema } from "../auth/clouds.js";

/**
 * One schema for every setting, whichever layer it comes from (defaults, config file, environment,
 * flags). Names follow DESIGN.md (credentials as @azure/identity names them). A mistake is reported
 * with the variable's name and what would fix it; values are never echoed, since some are secrets.
 * Every `.describe()` is user documentation: `--help` and the README's table are generated from it.
 */

const positiveNumber = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .positive({ error: `${name} must be greater than 0` });

const wholeNumber = (name: string, min: number) =>
  z.coerce
    .number({ error: `${name} must be a whole number` })
    .int({ error: `${name} must be a whole number` })
    .min(min, { error: `${name} must be at least ${min}` });

const httpsUrl = (name: string) =>
  z
    .url({ error: `${name} must be an absolute URL such as https://host` })
    .refine((v) => v.startsWith("https://"), { error: `${name} must use https://` })
    .transform((v) => v.replace(/\/+$/, ""));

const flag = (name: string) =>
  z
    .enum(["0", "1", "true", "false"], { error: `${name} must be 1 or 0` })
    .default("0")
    .transform((v) => v === "1" || v === "true");

const text = (name: string) => z.string({ error: `${name} must be text` }).min(1);

export const DEFAULT_DOWNLOAD_DIR = join(homedir(), ".mde-live-response-mcp", "downloads");

export const SettingsSchema = z.object({
  AZURE_TENANT_ID: text("AZURE_TENANT_ID")
    .optional()
    .describe("Entra ID tenant (directory) id of the app registration."),
  AZURE_CLIENT_ID: text("AZURE_CLIENT_ID")
    .optional()
    .describe("Application (client) id of the app registration, or of a user-assigned managed identity."),
  AZURE_CLIENT_SECRET: text("AZURE_CLIENT_SECRET")
    .optional()
    .describe("Client secret value (secret: prefer the environment to a config file)."),
  AZURE_CLIENT_CERTIFICATE_PATH: text("AZURE_CLIENT_CERTIFICATE_PATH")
    .optional()
    .describe("PEM or PFX file with the app's certificate and private key, instead of a secret."),
  AZURE_CLIENT_CERTIFICATE_PASSWORD: z
    .string({ error: "AZURE_CLIENT_CERTIFICATE_PASSWORD must be text" })
    .optional()
    .describe("Password of an encrypted certificate file (secret)."),
  AZURE_FEDERATED_TOKEN_FILE: text("AZURE_FEDERATED_TOKEN_FILE")
    .optional()
    .describe("File holding a federated token (workload identity federation), instead of a secret."),
  MDE_MANAGED_IDENTITY: flag("MDE_MANAGED_IDENTITY").describe(
    "1: authenticate with the host's managed identity (App Service, VM, Arc) instead of an app credential.",
  ),
  AZURE_AUTHORITY_HOST: httpsUrl("AZURE_AUTHORITY_HOST")
    .optional()
    .describe("Entra ID authority host; default the cloud's (https://login.microsoftonline.com)."),
  MDE_CLOUD: z
    .enum(CloudNameSchema.options, {
      error: `MDE_CLOUD must be one of ${CloudNameSchema.options.join(", ")}`,
    })
    .default("commercial")
    .describe(
      `Defender cloud, picks the API base URL and token scope: ${CloudNameSchema.options.join(", ")}.`,
    ),
  MDE_API_BASE_URL: httpsUrl("MDE_API_BASE_URL")
    .optional()
    .describe("Overrides the API base URL, e.g. a standalone simulator's."),
  MDE_API_SCOPE: text("MDE_API_SCOPE").optional().describe("Overrides the token scope of the cloud."),
  MDE_TIME_SCALE: positiveNumber("MDE_TIME_SCALE")
    .default(1)
    .describe(
      "Runs every duration of the server and simulator this many times faster (tests and demos only).",
    ),
  MDE_SUBMITS_PER_MINUTE: wholeNumber("MDE_SUBMITS_PER_MINUTE", 1)
    .default(10)
    .describe(
      "runliveresponse calls this server sends in any sliding 60 s (Defender allows 10 per tenant; lower it when other tools share the tenant).",
    ),
  MDE_READS_PER_MINUTE: wholeNumber("MDE_READS_PER_MINUTE", 1)
    .default(100)
    .describe("Other API calls (actions, result links, machines, library, cancel) in any sliding 60 s."),
  MDE_READS_PER_HOUR: wholeNumber("MDE_READS_PER_HOUR", 1)
    .default(1500)
    .describe("Other API calls in any sliding hour."),
  MDE_MAX_SESSIONS: wholeNumber("MDE_MAX_SESSIONS", 1)
    .default(25)
    .describe("Live response sessions this server keeps under (Microsoft's newest pages say 50)."),
  MDE_DOWNLOAD_DIR: text("MDE_DOWNLOAD_DIR")
    .default(DEFAULT_DOWNLOAD_DIR)
    .describe("Where collected files and full script output are saved."),
  MDE_POLICY_FILE: text("MDE_POLICY_FILE")
    .optional()
    .describe(
      "Policy file (YAML or JSON): read-only mode, allowed scripts, paths, library files and devices, and what needs a person's approval (asked through the MCP client); reloaded when it changes. Unset: everything is allowed without approval.",
    ),
  MDE_AUDIT_LOG: text("MDE_AUDIT_LOG")
    .optional()
    .describe(
      "Append-only audit log (JSON lines, hash-chained, each record on disk before the tool answers): every request, policy decision, approval, submit, final status, result fetched and cancel; check it with `audit verify`. When it cannot be written, run_live_response and cancel_action refuse to act. Unset: nothing is recorded, and the server warns at start.",
    ),
  MDE_DEFAULT_WAIT_SECONDS: wholeNumber("MDE_DEFAULT_WAIT_SECONDS", 0)
    .default(45)
    .describe(
      "How long a tool call waits for an action when the agent does not say; keep it under the client's timeout (often 60 s).",
    ),
  MDE_POLL_INTERVAL_SECONDS: z.coerce
    .number({ error: "MDE_POLL_INTERVAL_SECONDS must be a number" })
    .min(1, {
      error: "MDE_POLL_INTERVAL_SECONDS must be at least 1: polling faster spends the API's read budget",
    })
    .default(5)
    .describe("Seconds between two reads of an action in flight."),
  MDE_MAX_OUTPUT_CHARS: wholeNumber("MDE_MAX_OUTPUT_CHARS", 100)
    .default(20_000)
    .describe("Most characters of script output in one tool result; the rest is paged with output_offset."),
  MDE_MAX_DEVICES_PER_CALL: wholeNumber("MDE_MAX_DEVICES_PER_CALL", 1)
    .max(100, { error: "MDE_MAX_DEVICES_PER_CALL must be at most 100" })
    .default(100)
    .describe(
      "Most devices one run_live_response call may name (at most 100). Beyond the tenant's 10 submits a minute the rest are queued and submitted in turn.",
    ),
  MDE_SIMULATOR: flag("MDE_SIMULATOR").describe(
    "1: serve against an embedded, in-process simulator of the Contoso demo tenant; no credentials needed.",
  ),
  MDE_CONFIG_FILE: text("MDE_CONFIG_FILE")
    .optional()
    .describe("JSON file whose keys are these setting names; the environment and flags override it."),
  MDE_TRANSPORT: z
    .enum(["stdio", "http"], { error: "MDE_TRANSPORT must be stdio or http" })
    .default("stdio")
    .describe(
      "MCP transport: stdio (one client, the default) or http (Streamable HTTP at /mcp, a shared service).",
    ),
  MDE_HTTP_HOST: text("MDE_HTTP_HOST")
    .default("127.0.0.1")
    .describe(
      "Address the HTTP transport listens on. Any address other than loopback needs MDE_HTTP_API_KEYS_FILE or MDE_HTTP_OAUTH_AUDIENCE.",
    ),
  MDE_HTTP_PORT: wholeNumber("MDE_HTTP_PORT", 0)
    .max(65_535, { error: "MDE_HTTP_PORT must be at most 65535" })
    .default(8787)
    .describe("Port of the HTTP transport (0: any free port, logged at start)."),
  MDE_HTTP_PUBLIC_URL: z
    .url({ error: "MDE_HTTP_PUBLIC_URL must be an absolute URL such as https://mcp.contoso.com" })
    .transform((v) => v.replace(/\/+$/, ""))
    .optional()
    .describe(
      "The URL clients reach the server at behind a reverse proxy (e.g. https://mcp.contoso.com); names the OAuth resource and its metadata. Unset: the request's Host over http.",
    ),
  MDE_HTTP_ALLOWED_HOSTS: text("MDE_HTTP_ALLOWED_HOSTS")
    .optional()
    .describe(
      "Comma-separated host names the Host header may carry besides loopback, the bind address and MDE_HTTP_PUBLIC_URL's (DNS rebinding protection).",
    ),
  MDE_HTTP_ALLOWED_ORIGINS: text("MDE_HTTP_ALLOWED_ORIGINS")
    .optional()
    .describe(
      "Comma-separated browser origins allowed to call the server (CORS is answered for them only). Unset: requests with a foreign Origin get 403.",
    ),
  MDE_HTTP_SESSION_IDLE_SECONDS: wholeNumber("MDE_HTTP_SESSION_IDLE_SECONDS", 1)
    .default(1800)
    .describe("An MCP session over HTTP with no request for this long is closed."),
  MDE_HTTP_API_KEYS_FILE: text("MDE_HTTP_API_KEYS_FILE")
    .optional()
    .describe(
      "YAML or JSON file of API keys for the HTTP transport: `keys: [{principal, sha256}]`, the SHA-256 (hex) of each key, never the key itself.",
    ),
  MDE_HTTP_OAUTH_AUDIENCE: text("MDE_HTTP_OAUTH_AUDIENCE")
    .optional()
    .describe(
      "Turns on Entra ID (OAuth 2.1) bearer tokens for the HTTP transport: comma-separated audiences a token must carry (this server's Application ID URI, and its client id for v2 tokens).",
    ),
  MDE_HTTP_OAUTH_TENANT_ID: text("MDE_HTTP_OAUTH_TENANT_ID")
    .optional()
    .describe("Tenant whose tokens the HTTP transport accepts; default AZURE_TENANT_ID."),
  MDE_HTTP_OAUTH_AUTHORITY: httpsUrl("MDE_HTTP_OAUTH_AUTHORITY")
    .optional()
    .describe(
      "Entra ID authority host that issues those tokens; default AZURE_AUTHORITY_HOST, else the cloud's.",
    ),
  MDE_HTTP_OAUTH_SCOPE: text("MDE_HTTP_OAUTH_SCOPE")
    .optional()
    .describe(
      "Delegated scope (e.g. mcp.access) a user's token must carry; a token passes with this scope or MDE_HTTP_OAUTH_ROLE.",
    ),
  MDE_HTTP_OAUTH_ROLE: text("MDE_HTTP_OAUTH_ROLE")
    .optional()
    .describe(
      "App role (e.g. Mcp.Invoke) a token must carry in `roles`; a token passes with it or MDE_HTTP_OAUTH_SCOPE.",
    ),
  MDE_HTTP_OBO: flag("MDE_HTTP_OBO").describe(
    "1: a tool call from a user signed in with an Entra ID token reaches Defender On-Behalf-Of that user (msal-node acquireTokenOnBehalfOf with the app's credential), so Defender's RBAC and delegated permissions apply to them; calls from API keys and apps, and background polling, use the app's own token.",
  ),
  REDIS_URL: text("REDIS_URL")
    .refine((v) => /^rediss?:\/\//.test(v), { error: "REDIS_URL must start with redis:// or rediss://" })
    .optional()
    .describe(
      "Redis shared by every replica of the server (redis:// or rediss://, credentials in the URL): the submit window, the read budget, the session cap and the device locks hold across replicas. Unset: they hold within this process only.",
    ),
  MDE_LEASE_SECONDS: positiveNumber("MDE_LEASE_SECONDS")
    .default(30)
    .describe(
      "With REDIS_URL: how long a replica's session and device leases outlive it (they are renewed every third of it); a dead replica's slots free after this.",
    ),
  MDE_REVIEW_STORE: text("MDE_REVIEW_STORE")
    .optional()
    .describe(
      "JSON file that keeps the review console's pending approvals across restarts. Default: review-approvals.json beside MDE_AUDIT_LOG; with neither set they are kept in memory only (a warning at start).",
    ),
  MDE_REVIEW_KEYS_FILE: text("MDE_REVIEW_KEYS_FILE")
    .optional()
    .describe(
      "YAML or JSON file of the review console's reviewer keys, in the format of MDE_HTTP_API_KEYS_FILE; each key's principal is the reviewer's name. The MCP API keys and tokens never open the console.",
    ),
  MDE_REVIEW_PORT: wholeNumber("MDE_REVIEW_PORT", 0)
    .max(65_535, { error: "MDE_REVIEW_PORT must be at most 65535" })
    .optional()
    .describe(
      "Over stdio: serve the review console on 127.0.0.1 at this port (0: any free port) and print a one-time sign-in link to stderr. Over HTTP the console is at /review.",
    ),
  MDE_REVIEW_ENTRA: flag("MDE_REVIEW_ENTRA").describe(
    "1: reviewers sign in to the review console with Entra ID (authorization code flow with PKCE, msal-node, as the app registration AZURE_CLIENT_ID with its own secret, certificate or federated credential). Needs MDE_REVIEW_PUBLIC_URL.",
  ),
  MDE_REVIEW_PUBLIC_URL: z
    .url({ error: "MDE_REVIEW_PUBLIC_URL must be an absolute URL such as https://mcp.contoso.com" })
    .refine(
      (v) => /^https:\/\//i.test(v) || /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/i.test(v),
      {
        error:
          "MDE_REVIEW_PUBLIC_URL must use https:// (Entra ID accepts http:// only for localhost and 127.0.0.1)",
      },
    )
    .refine((v) => !/[?#]/.test(v), { error: "MDE_REVIEW_PUBLIC_URL must not have a query or fragment" })
    .transform((v) => v.replace(/\/+$/, ""))
    .optional()
    .describe(
      "The review console's external base URL, e.g. https://mcp.contoso.com: the Entra sign-in returns to <it>/review/signin/entra/callback, which must be a Web redirect URI of the app registration. Default MDE_HTTP_PUBLIC_URL.",
    ),
  MDE_REVIEW_ENTRA_ROLE: text("MDE_REVIEW_ENTRA_ROLE")
    .optional()
    .describe(
      "App role (e.g. LiveResponse.Reviewer) a person must be assigned on the app registration to sign in to the review console with Entra ID. Unset: every user of the tenant who may sign in to the app may review (a warning at start).",
    ),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent",
    })
    .default("info")
    .describe("Log level of the JSON logs on stderr: fatal, error, warn, info, debug, trace, silent."),
});
export type Settings = z.infer<typeof SettingsSchema>;
export type SettingName = keyof typeof SettingsSchema.shape;

export const SETTING_NAMES = Object.keys(SettingsSchema.shape) as SettingName[];

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SettingsSchema.shape, name);
}

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  /** Every problem found, one line each: they are reported together so one edit can fix them all. */
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(
      typeof problems === "string"
        ? problems
        : `invalid configuration:\n${list.map((p) => `  ${p}`).join("\n")}`,
    );
    this.problems = list;
  }
}

/**
 * Validates raw setting values (strings, as read from any layer). `sourceOf` names where a value came
 * from, so a problem says which file, variable or flag to change.
 */
export function parseSettings(
  values: Readonly<Partial<Record<SettingName, string>>>,
  sourceOf: (name: SettingName) => string | undefined = () => undefined,
): { settings: Settings; problems: [] } | { settings: undefined; problems: string[] } {
  const result = SettingsSchema.safeParse(values);
  if (result.success) return { settings: result.data, problems: [] };
  return {
    settings: undefined,
    problems: result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? "");
      const source = isSettingName(name) ? sourceOf(name) : undefined;
      return `${name}${source ? ` (${source})` : ""}: ${issue.message}`;
    }),
  };
}

/** Settings from the environment alone (no file, no flags); relative paths stay as given. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const known = Object.fromEntries(
    SETTING_NAMES.filter((key) => env[key] !== undefined && env[key] !== "").map((key) => [key, env[key]]),
  );
  const { settings, problems } = parseSettings(known);
  if (settings === undefined) throw new ConfigError(problems);
  return settings;
}
