import { z } from "zod";
import { CloudNameSchema } from "../auth/clouds.js";

/**
 * One schema for every setting the product reads from its environment. Names follow DESIGN.md
 * (credentials as @azure/identity names them). A mistake is reported with the variable's name and
 * what would fix it; values are never echoed, since some of them are secrets.
 */

const positiveNumber = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .positive({ error: `${name} must be greater than 0` });

const httpsUrl = (name: string) =>
  z
    .url({ error: `${name} must be an absolute URL such as https://host` })
    .refine((v) => v.startsWith("https://"), { error: `${name} must use https://` })
    .transform((v) => v.replace(/\/+$/, ""));

export const SettingsSchema = z.object({
  AZURE_TENANT_ID: z.string().min(1).optional(),
  AZURE_CLIENT_ID: z.string().min(1).optional(),
  AZURE_CLIENT_SECRET: z.string().min(1).optional(),
  AZURE_CLIENT_CERTIFICATE_PATH: z.string().min(1).optional(),
  AZURE_CLIENT_CERTIFICATE_PASSWORD: z.string().optional(),
  AZURE_FEDERATED_TOKEN_FILE: z.string().min(1).optional(),
  /** Use the host's managed identity (App Service, VM, Arc) instead of an app credential. */
  MDE_MANAGED_IDENTITY: z
    .enum(["0", "1", "true", "false"], { error: "MDE_MANAGED_IDENTITY must be 1 or 0" })
    .default("0")
    .transform((v) => v === "1" || v === "true"),
  AZURE_AUTHORITY_HOST: httpsUrl("AZURE_AUTHORITY_HOST").optional(),
  MDE_CLOUD: z
    .enum(CloudNameSchema.options, {
      error: `MDE_CLOUD must be one of ${CloudNameSchema.options.join(", ")}`,
    })
    .default("commercial"),
  MDE_API_BASE_URL: httpsUrl("MDE_API_BASE_URL").optional(),
  MDE_API_SCOPE: z.string().min(1).optional(),
  MDE_TIME_SCALE: positiveNumber("MDE_TIME_SCALE").default(1),
  MDE_MAX_SESSIONS: z.coerce
    .number({ error: "MDE_MAX_SESSIONS must be a whole number" })
    .int({ error: "MDE_MAX_SESSIONS must be a whole number" })
    .min(1, { error: "MDE_MAX_SESSIONS must be at least 1" })
    .default(25),
  MDE_DOWNLOAD_DIR: z.string().min(1).optional(),
  MDE_SIMULATOR: z
    .enum(["0", "1", "true", "false"], { error: "MDE_SIMULATOR must be 1 or 0" })
    .default("0")
    .transform((v) => v === "1" || v === "true"),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent",
    })
    .default("info"),
});
export type Settings = z.infer<typeof SettingsSchema>;

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const known = Object.fromEntries(
    Object.keys(SettingsSchema.shape)
      .filter((key) => env[key] !== undefined && env[key] !== "")
      .map((key) => [key, env[key]]),
  );
  const result = SettingsSchema.safeParse(known);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}
