import { homedir } from "node:os";
import { SETTING_FLAGS } from "./settingFlags.js";
import { SETTING_NAMES, SettingsSchema, type SettingName } from "./settings.js";

/** One row of the configuration table in `--help` and the README, generated from the schema. */
export interface SettingReference {
  name: SettingName;
  /** The flag that sets it, e.g. `--time-scale X`; absent when only the environment or a file can. */
  flag: string | undefined;
  /** The default as a user would write it; absent when the setting has none. */
  default: string | undefined;
  description: string;
}

export function settingsReference(): SettingReference[] {
  const flags = new Map<SettingName, string>(
    Object.entries(SETTING_FLAGS).map(([name, f]) => [f.setting, `--${name}${f.value ? ` ${f.value}` : ""}`]),
  );
  return SETTING_NAMES.map((name) => {
    const field = SettingsSchema.shape[name];
    const fallback = field.safeParse(undefined);
    return {
      name,
      flag: flags.get(name),
      default: fallback.success ? written(fallback.data) : undefined,
      description: field.description ?? "",
    };
  });
}

function written(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "boolean") return value ? "1" : "0";
  const text = String(value);
  const home = homedir();
  return text.startsWith(home) ? `~${text.slice(home.length)}` : text;
}
