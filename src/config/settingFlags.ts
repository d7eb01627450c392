import { parseArgs } from "node:util";
import type { SettingName } from "./settings.js";

/**
 * The command-line flags of `serve` and `check`. Each one sets a setting, so a flag is validated
 * and documented by the same schema as its environment variable, and wins over it.
 */
export const SETTING_FLAGS = {
  simulator: { setting: "MDE_SIMULATOR", value: undefined },
  config: { setting: "MDE_CONFIG_FILE", value: "FILE" },
  "time-scale": { setting: "MDE_TIME_SCALE", value: "X" },
  "download-dir": { setting: "MDE_DOWNLOAD_DIR", value: "DIR" },
  "log-level": { setting: "LOG_LEVEL", value: "LEVEL" },
  transport: { setting: "MDE_TRANSPORT", value: "NAME" },
  host: { setting: "MDE_HTTP_HOST", value: "ADDRESS" },
  port: { setting: "MDE_HTTP_PORT", value: "PORT" },
  "review-port": { setting: "MDE_REVIEW_PORT", value: "PORT" },
} as const satisfies Record<string, { setting: SettingName; value: string | undefined }>;

type FlagName = keyof typeof SETTING_FLAGS;

export interface FlagLayer {
  values: Partial<Record<SettingName, string>>;
  /** The flag that set each setting, e.g. `--time-scale`. */
  sources: Partial<Record<SettingName, string>>;
  problems: string[];
}

const isFlagName = (name: string): name is FlagName => Object.hasOwn(SETTING_FLAGS, name);

export function parseSettingFlags(argv: readonly string[]): FlagLayer {
  const options = Object.fromEntries(
    Object.entries(SETTING_FLAGS).map(
      ([name, f]) => [name, { type: f.value ? "string" : "boolean" }] as const,
    ),
  );
  // Not strict: every mistake is collected and reported with the settings' own problems.
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const layer: FlagLayer = { values: {}, sources: {}, problems: [] };
  for (const token of tokens) {
    if (token.kind === "positional") {
      layer.problems.push(`unexpected argument "${token.value}"; see --help`);
      continue;
    }
    if (token.kind !== "option") continue;
    if (!isFlagName(token.name)) {
      layer.problems.push(`unknown option ${token.rawName}; see --help`);
      continue;
    }
    const flag = SETTING_FLAGS[token.name];
    const value = flagValue(token.rawName, flag.value, token.value, token.inlineValue);
    if (value.problem !== undefined) {
      layer.problems.push(value.problem);
      continue;
    }
    layer.values[flag.setting] = value.text;
    layer.sources[flag.setting] = token.rawName;
  }
  return layer;
}

function flagValue(
  rawName: string,
  valueName: string | undefined,
  given: string | undefined,
  inline: boolean | undefined,
): { text: string; problem?: undefined } | { text?: undefined; problem: string } {
  if (valueName === undefined) {
    return given === undefined ? { text: "1" } : { problem: `${rawName} takes no value` };
  }
  // parseArgs takes the next word even when it is another flag ("--time-scale --simulator").
  if (given === undefined || given === "" || (!inline && given.startsWith("-"))) {
    return { problem: `${rawName} needs a value: ${rawName} ${valueName}` };
  }
  return { text: given };
}
