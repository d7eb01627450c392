import { readFileSync } from "node:fs";
import { isSettingName, SETTING_NAMES, type SettingName } from "./settings.js";

/**
 * A config file is a JSON object whose keys are the setting names (`{ "MDE_CLOUD": "us" }`), so one
 * vocabulary serves the file, the environment and the docs. Values are read as the environment would
 * give them (text); numbers and booleans are accepted as a convenience. Problems are collected, not
 * thrown, so they are reported together with those of the other layers; no value is ever quoted.
 */
export interface ConfigFileLayer {
  values: Partial<Record<SettingName, string>>;
  problems: string[];
}

export function readConfigFile(path: string): ConfigFileLayer {
  const where = `config file ${path}`;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return {
      values: {},
      problems: [`${where}: cannot be read (${code}); check --config or MDE_CONFIG_FILE`],
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // JSON.parse quotes the text around the mistake, which may be a secret: give only where it is.
    return {
      values: {},
      problems: [`${where}: is not valid JSON (${locate(text, err)}); check quotes and commas`],
    };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { values: {}, problems: [`${where}: must be a JSON object such as { "MDE_CLOUD": "us" }`] };
  }

  const values: Partial<Record<SettingName, string>> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    if (!isSettingName(key)) {
      const hint = SETTING_NAMES.find((n) => n === key.toUpperCase().replaceAll("-", "_"));
      problems.push(
        `${where}: unknown setting "${key}"${hint ? ` (did you mean ${hint}?)` : ""}; the keys are the setting names listed by --help`,
      );
    } else if (key === "MDE_CONFIG_FILE") {
      problems.push(`${where}: MDE_CONFIG_FILE cannot be set inside a config file`);
    } else if (typeof value === "string") {
      if (value !== "") values[key] = value;
    } else if (typeof value === "number") {
      values[key] = String(value);
    } else if (typeof value === "boolean") {
      values[key] = value ? "1" : "0";
    } else {
      problems.push(`${where}: ${key} must be a string, a number or a boolean`);
    }
  }
  return { values, problems };
}

function locate(text: string, err: unknown): string {
  const position = /position (\d+)/.exec(err instanceof Error ? err.message : "")?.[1];
  if (position === undefined) return "the file ends too early or is empty";
  const before = text.slice(0, Number(position)).split("\n");
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}
