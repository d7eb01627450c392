import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loadConfig.js";
import { ConfigError, readSettings, SETTING_NAMES } from "../../src/config/settings.js";
import { settingsReference } from "../../src/config/settingsReference.js";

let dir: string;
let cwd: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "load-config-"));
  cwd = join(dir, "work");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function configFile(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function problemsOf(run: () => unknown): { problems: readonly string[]; message: string } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const { problems, message } = err as ConfigError;
    return { problems, message };
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig precedence: defaults < config file < environment < flags", () => {
  it("uses the documented defaults when nothing is set", () => {
    const s = loadConfig({ argv: [], env: {}, cwd });
    expect(s).toMatchObject({
      MDE_CLOUD: "commercial",
      MDE_TIME_SCALE: 1,
      MDE_DEFAULT_WAIT_SECONDS: 45,
      MDE_POLL_INTERVAL_SECONDS: 5,
      MDE_MAX_OUTPUT_CHARS: 20_000,
      MDE_MAX_DEVICES_PER_CALL: 100,
      MDE_SIMULATOR: false,
      MDE_TRANSPORT: "stdio",
      LOG_LEVEL: "info",
      MDE_DOWNLOAD_DIR: join(homedir(), ".mde-live-response-mcp", "downloads"),
    });
    expect(s.MDE_CONFIG_FILE).toBeUndefined();
  });

  it("each layer wins over the one before it, setting by setting", async () => {
    const file = await configFile("layers.json", {
      MDE_TIME_SCALE: 5,
      LOG_LEVEL: "warn",
      MDE_CLOUD: "us",
      MDE_DEFAULT_WAIT_SECONDS: "30",
    });
    const env = { MDE_CONFIG_FILE: file, MDE_TIME_SCALE: "10", LOG_LEVEL: "error" };
    const argv = ["--time-scale", "60"];

    expect(loadConfig({ argv: [], env: { MDE_CONFIG_FILE: file }, cwd })).toMatchObject({
      MDE_TIME_SCALE: 5,
      LOG_LEVEL: "warn",
      MDE_CLOUD: "us",
      MDE_DEFAULT_WAIT_SECONDS: 30,
      MDE_MAX_OUTPUT_CHARS: 20_000, // not in any layer: the default
    });
    expect(loadConfig({ argv: [], env, cwd })).toMatchObject({
      MDE_TIME_SCALE: 10,
      LOG_LEVEL: "error",
      MDE_CLOUD: "us",
    });
    expect(loadConfig({ argv, env, cwd })).toMatchObject({
      MDE_TIME_SCALE: 60,
      LOG_LEVEL: "error",
      MDE_CLOUD: "us",
      MDE_DEFAULT_WAIT_SECONDS: 30,
    });
  });

  it("--config wins over MDE_CONFIG_FILE, and boolean flags and file booleans set 1", async () => {
    const a = await configFile("a.json", { MDE_CLOUD: "eu" });
    const b = await configFile("b.json", { MDE_CLOUD: "uk", MDE_MANAGED_IDENTITY: true });
    const s = loadConfig({ argv: ["--config", b, "--simulator"], env: { MDE_CONFIG_FILE: a }, cwd });
    expect(s).toMatchObject({ MDE_CLOUD: "uk", MDE_MANAGED_IDENTITY: true, MDE_SIMULATOR: true });
    expect(s.MDE_CONFIG_FILE).toBe(b);
  });

  it("resolves relative paths against the file that names them, or the working directory; ~ is home", async () => {
    const file = await configFile("paths.json", {
      MDE_DOWNLOAD_DIR: "collected",
      AZURE_CLIENT_CERTIFICATE_PATH: "~/certs/app.pem",
    });
    const fromFile = loadConfig({ argv: ["--config", file], env: {}, cwd });
    expect(fromFile.MDE_DOWNLOAD_DIR).toBe(join(dir, "collected"));
    expect(fromFile.AZURE_CLIENT_CERTIFICATE_PATH).toBe(join(homedir(), "certs", "app.pem"));
    const fromFlag = loadConfig({ argv: ["--config", file, "--download-dir", "out"], env: {}, cwd });
    expect(fromFlag.MDE_DOWNLOAD_DIR).toBe(join(cwd, "out"));
    const fromEnv = loadConfig({ argv: [], env: { AZURE_FEDERATED_TOKEN_FILE: "token.jwt" }, cwd });
    expect(fromEnv.AZURE_FEDERATED_TOKEN_FILE).toBe(join(cwd, "token.jwt"));
  });

  it("treats an empty environment variable as unset", async () => {
    const file = await configFile("empty-env.json", { MDE_CLOUD: "gcc" });
    expect(loadConfig({ argv: ["--config", file], env: { MDE_CLOUD: "" }, cwd }).MDE_CLOUD).toBe("gcc");
  });
});

describe("loadConfig problems", () => {
  it("reports every problem of every layer at once, each naming its source, never a value", async () => {
    const secret = "Sup3rSecretValue~XYZ";
    const file = await configFile("bad-values.json", {
      MDE_MAX_OUTPUT_CHARS: "lots",
      MDE_CLOUD: secret,
      mde_cloud: "us",
      FROBNICATE: 1,
      MDE_API_SCOPE: { nested: true },
    });
    const { problems, message } = problemsOf(() =>
      loadConfig({
        argv: [
          "--config",
          file,
          "--time-scale",
          "0",
          "--transport",
          "sse",
          "--bogus",
          "stray",
          "--log-level",
        ],
        env: { MDE_POLL_INTERVAL_SECONDS: "0.1", AZURE_AUTHORITY_HOST: "http://login.example" },
        cwd,
      }),
    );
    const expected = [
      "unknown option --bogus",
      'unexpected argument "stray"',
      "--log-level needs a value",
      `config file ${file}: unknown setting "mde_cloud" (did you mean MDE_CLOUD?)`,
      `config file ${file}: unknown setting "FROBNICATE"`,
      `config file ${file}: MDE_API_SCOPE must be a string, a number or a boolean`,
      `MDE_MAX_OUTPUT_CHARS (config file ${file}): MDE_MAX_OUTPUT_CHARS must be a whole number`,
      `MDE_CLOUD (config file ${file}): MDE_CLOUD must be one of commercial, us, eu, uk, gcc, gcc-high, dod`,
      "MDE_POLL_INTERVAL_SECONDS (environment): MDE_POLL_INTERVAL_SECONDS must be at least 1",
      "AZURE_AUTHORITY_HOST (environment): AZURE_AUTHORITY_HOST must use https://",
      "MDE_TIME_SCALE (--time-scale): MDE_TIME_SCALE must be greater than 0",
      "MDE_TRANSPORT (--transport): MDE_TRANSPORT must be stdio or http",
    ];
    for (const text of expected)
      expect(
        problems.some((p) => p.includes(text)),
        text,
      ).toBe(true);
    expect(problems).toHaveLength(expected.length);
    expect(message).not.toContain(secret);
    expect(message).not.toContain("http://login.example");
  });

  it("names the place of a JSON syntax error without quoting the file", async () => {
    const secret = "Sup3rSecretValue~XYZ";
    const file = await configFile("broken.json", `{\n  "AZURE_CLIENT_SECRET": "${secret}",\n}`);
    const { problems, message } = problemsOf(() => loadConfig({ argv: ["--config", file], env: {}, cwd }));
    expect(problems).toEqual([
      `config file ${file}: is not valid JSON (line 3, column 1); check quotes and commas`,
    ]);
    expect(message).not.toContain(secret);
  });

  it("rejects a file that cannot be read, one that is not an object, and MDE_CONFIG_FILE inside a file", async () => {
    const missing = join(dir, "nope.json");
    expect(problemsOf(() => loadConfig({ argv: ["--config", missing], env: {}, cwd })).problems).toEqual([
      `config file ${missing}: cannot be read (ENOENT); check --config or MDE_CONFIG_FILE`,
    ]);
    const list = await configFile("list.json", ["MDE_CLOUD"]);
    expect(problemsOf(() => loadConfig({ argv: ["--config", list], env: {}, cwd })).problems[0]).toContain(
      "must be a JSON object",
    );
    const nested = await configFile("nested.json", { MDE_CONFIG_FILE: list });
    expect(problemsOf(() => loadConfig({ argv: ["--config", nested], env: {}, cwd })).problems).toEqual([
      `config file ${nested}: MDE_CONFIG_FILE cannot be set inside a config file`,
    ]);
  });

  it("refuses a value on a boolean flag and a flag where a value should be", () => {
    const { problems } = problemsOf(() =>
      loadConfig({ argv: ["--simulator=yes", "--download-dir", "--simulator"], env: {}, cwd }),
    );
    expect(problems).toEqual([
      "--simulator takes no value",
      "--download-dir needs a value: --download-dir DIR",
    ]);
  });
});

describe("the settings reference", () => {
  it("documents every setting, with its flag and default where it has one", () => {
    const rows = settingsReference();
    expect(rows.map((r) => r.name)).toEqual(SETTING_NAMES);
    for (const row of rows) expect(row.description.length, row.name).toBeGreaterThan(10);
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(byName.get("MDE_TIME_SCALE")).toMatchObject({ flag: "--time-scale X", default: "1" });
    expect(byName.get("MDE_SIMULATOR")).toMatchObject({ flag: "--simulator", default: "0" });
    expect(byName.get("MDE_DOWNLOAD_DIR")?.default).toBe(join("~", ".mde-live-response-mcp", "downloads"));
    expect(byName.get("AZURE_CLIENT_SECRET")).toMatchObject({ flag: undefined, default: undefined });
  });

  it("readSettings still reads the environment alone", () => {
    expect(readSettings({ MDE_CLOUD: "dod", MDE_MAX_DEVICES_PER_CALL: "7" })).toMatchObject({
      MDE_CLOUD: "dod",
      MDE_MAX_DEVICES_PER_CALL: 7,
    });
    expect(() => readSettings({ MDE_SIMULATOR: "yes" })).toThrow("MDE_SIMULATOR must be 1 or 0");
  });
});
