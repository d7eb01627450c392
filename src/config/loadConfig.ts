import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { readConfigFile } from "./configFile.js";
import { parseSettingFlags } from "./settingFlags.js";
import { ConfigError, parseSettings, SETTING_NAMES, type SettingName, type Settings } from "./settings.js";

/** Settings that name files or folders: relative to the file that names them, `~` for the home folder. */
const PATH_SETTINGS: readonly SettingName[] = [
  "AZURE_CLIENT_CERTIFICATE_PATH",
  "AZURE_FEDERATED_TOKEN_FILE",
  "MDE_DOWNLOAD_DIR",
  "MDE_CONFIG_FILE",
  "MDE_POLICY_FILE",
  "MDE_AUDIT_LOG",
  "MDE_HTTP_API_KEYS_FILE",
  "MDE_REVIEW_STORE",
  "MDE_REVIEW_KEYS_FILE",
];

type Values = Partial<Record<SettingName, string>>;

export interface LoadConfigInput {
  /** The command's arguments, after the command name. */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Where relative paths of the flags and the environment are resolved. */
  cwd: string;
}

/**
 * Layers the settings, each winning over the one before: defaults < config file (`--config` or
 * MDE_CONFIG_FILE) < environment < flags. Every problem of every layer is collected and thrown as
 * one ConfigError, each naming where the value came from.
 */
export function loadConfig({ argv, env, cwd }: LoadConfigInput): Settings {
  const flags = parseSettingFlags(argv);
  const fromEnv: Values = {};
  for (const name of SETTING_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== "") fromEnv[name] = value;
  }

  const sources: Partial<Record<SettingName, string>> = {};
  const problems = [...flags.problems];
  let fromFile: Values = {};
  const file = flags.values.MDE_CONFIG_FILE ?? fromEnv.MDE_CONFIG_FILE;
  if (file !== undefined) {
    const path = resolvePath(file, cwd);
    const layer = readConfigFile(path);
    problems.push(...layer.problems);
    fromFile = resolvePaths(layer.values, dirname(path));
    for (const name of Object.keys(fromFile) as SettingName[]) sources[name] = `config file ${path}`;
  }
  for (const name of Object.keys(fromEnv) as SettingName[]) sources[name] = "environment";
  Object.assign(sources, flags.sources);

  const merged = { ...fromFile, ...resolvePaths(fromEnv, cwd), ...resolvePaths(flags.values, cwd) };
  const parsed = parseSettings(merged, (name) => sources[name]);
  problems.push(...parsed.problems);
  if (parsed.settings === undefined || problems.length > 0) throw new ConfigError(problems);
  return parsed.settings;
}

function resolvePaths(values: Values, base: string): Values {
  const out = { ...values };
  for (const name of PATH_SETTINGS) {
    const value = out[name];
    if (value !== undefined) out[name] = resolvePath(value, base);
  }
  return out;
}

function resolvePath(path: string, base: string): string {
  if (path === "~") return homedir();
  if (path.startsWith("~/") || path.startsWith("~\\")) return join(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(base, path);
}
