import { readFile } from "node:fs/promises";
import { z } from "zod";
import { isRegistrableRedirectUri } from "./redirectUri.js";

/**
 * A simulator scenario: the tenant a user develops against. One JSON file describes the app
 * registrations, devices (with their files and online schedule), the live response library and
 * how each library script behaves when run. Durations are real-world seconds; the simulator divides
 * them by its time scale.
 */

const machineId = z.string().regex(/^[0-9a-f]{40}$/, "a device id is 40 lower-case hex characters");

export const AppRegistrationSchema = z.object({
  clientId: z.uuid(),
  displayName: z.string().min(1),
  /** A client secret the token endpoint accepts for this app. */
  clientSecret: z.string().min(16).optional(),
  /** PEM certificates whose private key may sign a client assertion for this app. */
  certificatesPem: z.array(z.string()).default([]),
  /** Application permissions put in the token's `roles` claim, e.g. Machine.LiveResponse. */
  roles: z.array(z.string()).default([]),
  /** A public client (an agent's or IDE's app): it gets user tokens without a credential of its own. */
  publicClient: z.boolean().optional(),
  /**
   * The app as a resource (e.g. this MCP server): its Application ID URIs besides `api://<clientId>`,
   * which tokens for it carry as `aud`, and which an On-Behalf-Of assertion must be issued to.
   */
  identifierUris: z
    .array(z.string().regex(/^api:\/\/\S+$/, "an Application ID URI starts with api://"))
    .optional(),
  /** The delegated scopes the app exposes as a resource (e.g. mcp.access); a user token asks for these. */
  exposedScopes: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/)).optional(),
  /**
   * Web redirect URIs the authorization endpoint may send a user back to with a code (https, or http
   * on localhost / 127.0.0.1, where the port is not compared, as Entra matches loopback URIs).
   */
  redirectUris: z
    .array(
      z.string().refine(isRegistrableRedirectUri, {
        error: "a redirect URI is an absolute https:// URL, or http:// on localhost or 127.0.0.1",
      }),
    )
    .optional(),
});
export type AppRegistration = z.infer<typeof AppRegistrationSchema>;

/** The device group Defender puts a device in when no group's rule matches it. */
export const UNGROUPED_DEVICES = "Ungrouped devices (default)";

/**
 * A person of the tenant, for delegated (user) tokens. Test-only: the token endpoint's resource
 * owner password grant takes the password, so tests get real signed user tokens without a browser.
 */
export const ScenarioUserSchema = z.object({
  upn: z.string().regex(/^[^@\s]+@[^@\s]+$/, "a user principal name looks like name@domain"),
  /** The user's object id; default derived from the tenant and the UPN. */
  oid: z.uuid().optional(),
  displayName: z.string().min(1).optional(),
  password: z.string().min(8),
  /**
   * Defender's delegated permissions this user's tokens carry in `scp` (e.g. Machine.Read,
   * Machine.LiveResponse, Library.Manage): what the tenant consented to, narrowed to the user's
   * Defender role.
   */
  scopes: z.array(z.string()).default([]),
  /** App roles assigned to the user on this tenant's own APIs (the `roles` of their tokens for them). */
  roles: z.array(z.string()).default([]),
  /**
   * Defender RBAC: the device groups (rbacGroupName; UNGROUPED_DEVICES for devices in none) the user
   * may see and act on, or "all". Required: a user sees no device unless a group is granted.
   */
  deviceGroups: z.union([z.literal("all"), z.array(z.string().min(1))]),
});
export type ScenarioUser = z.infer<typeof ScenarioUserSchema>;

export const DeviceFileSchema = z.object({
  path: z.string().min(1),
  /** UTF-8 text content. */
  content: z.string().optional(),
  /** Binary content; wins over `content`. */
  contentBase64: z.string().optional(),
  /** Generate this many bytes of deterministic filler instead of giving content. */
  generatedBytes: z.number().int().nonnegative().optional(),
  /** Files live response cannot collect (reference §5): GetFile on them fails. */
  kind: z.enum(["regular", "reparsePoint", "sparse", "empty", "placeholder"]).default("regular"),
});
export type DeviceFile = z.infer<typeof DeviceFileSchema>;

export const AvailabilitySchema = z.union([
  z.literal("online"),
  /** Never comes online: its actions queue until the queue time runs out (then TimeOut). */
  z.literal("offline"),
  /** Offline at start, online from this many seconds after the simulator starts. */
  z.object({ onlineAfterSeconds: z.number().nonnegative() }),
]);
export type Availability = z.infer<typeof AvailabilitySchema>;

export const DeviceSchema = z.object({
  id: machineId,
  computerDnsName: z.string().min(1),
  osPlatform: z.string().min(1),
  osVersion: z.string().nullable().default(null),
  osBuild: z.number().int().nullable().default(null),
  version: z.string().nullable().default(null),
  agentVersion: z.string().nullable().default(null),
  lastIpAddress: z.string().nullable().default(null),
  lastExternalIpAddress: z.string().nullable().default(null),
  /** Health while online; an offline device reports `Inactive`. */
  healthStatus: z.string().default("Active"),
  onboardingStatus: z.string().default("Onboarded"),
  rbacGroupId: z.number().int().nullable().default(null),
  rbacGroupName: z.string().nullable().default(null),
  riskScore: z.string().default("None"),
  exposureLevel: z.string().default("Low"),
  deviceValue: z.string().default("Normal"),
  isAadJoined: z.boolean().default(false),
  aadDeviceId: z.string().nullable().default(null),
  machineTags: z.array(z.string()).default([]),
  availability: AvailabilitySchema.default("online"),
  /** How long after a device picks an action up until its first command starts, in seconds. */
  pickupDelaySeconds: z.number().nonnegative().default(2),
  files: z.array(DeviceFileSchema).default([]),
});
export type Device = z.infer<typeof DeviceSchema>;

export const ScriptBehaviourSchema = z.object({
  /**
   * Transcript text. Placeholders: {args}, {computerDnsName}, {machineId}, {scriptName}.
   * PowerShell scripts get the transcript header the reference shows, unless `transcriptHeader` is false.
   */
  output: z.string().default(""),
  /** Appended to the output: this many bytes of realistic filler lines (for megabyte outputs). */
  extraOutputBytes: z.number().int().nonnegative().default(0),
  errors: z.string().default(""),
  exitCode: z.number().int().default(0),
  /** Run time in seconds; above the RunScript limit (600 s) the action ends TimeOut. */
  durationSeconds: z.number().nonnegative().default(3),
  /** `failed`: the command fails (errors[] gets `failureMessage`), the action ends Failed. */
  outcome: z.enum(["completed", "failed"]).default("completed"),
  failureMessage: z.string().default("Script execution failed"),
  transcriptHeader: z.boolean().default(true),
});
export type ScriptBehaviour = z.infer<typeof ScriptBehaviourSchema>;

export const LibraryFileSchema = z.object({
  fileName: z.string().regex(/^[A-Za-z0-9._-]+$/, "library names use letters, digits, '-', '_' and '.'"),
  description: z.string().nullable().default(null),
  createdBy: z.string().default("secops@contoso.com"),
  creationTime: z.iso.datetime().optional(),
  hasParameters: z.boolean().default(false),
  parametersDescription: z.string().optional(),
  /** File content (what sha256 is computed from). */
  content: z.string().default(""),
  /** Unsigned .ps1 scripts fail when the tenant forbids unsigned script execution. */
  signed: z.boolean().default(true),
  /** How the script behaves when run (RunScript); ignored for files that are not scripts. */
  behaviour: ScriptBehaviourSchema.optional(),
  /** Per-platform overrides, keyed by osPlatform (e.g. "Linux"). */
  behaviourByPlatform: z.record(z.string(), ScriptBehaviourSchema).default({}),
});
export type LibraryFile = z.infer<typeof LibraryFileSchema>;

export const ScenarioSchema = z.object({
  name: z.string().default("custom"),
  tenant: z.object({
    id: z.uuid(),
    /** Advanced feature "Live response": off means 403 DisabledFeature on submit. */
    liveResponseEnabled: z.boolean().default(true),
    /** Advanced feature "Live response unsigned script execution". */
    unsignedScriptExecution: z.boolean().default(false),
  }),
  apps: z.array(AppRegistrationSchema).min(1),
  users: z.array(ScenarioUserSchema).default([]),
  devices: z.array(DeviceSchema),
  library: z.array(LibraryFileSchema).default([]),
});
export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

export class ScenarioError extends Error {
  readonly code = "SCENARIO_INVALID";
}

/** Parses a scenario, naming every mistake with its path in the file. */
export function parseScenario(input: unknown, source = "scenario"): Scenario {
  const result = ScenarioSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ScenarioError(`${source} is not a valid simulator scenario:\n${lines.join("\n")}`);
  }
  return result.data;
}

export async function loadScenarioFile(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ScenarioError(`cannot read scenario file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(`scenario file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseScenario(json, path);
}
