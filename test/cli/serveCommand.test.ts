import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SETTING_NAMES } from "../../src/config/settings.js";

// The command line as a user meets it: a real child process, its exit code, stdout and stderr.
const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const CREDENTIAL_VARIABLES = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "MDE_CONFIG_FILE"];

async function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const inherited = { ...process.env };
  for (const name of CREDENTIAL_VARIABLES) delete inherited[name];
  const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], {
    env: { ...inherited, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

describe.concurrent("mde-live-response-mcp serve / check / --help / --version", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cli-serve-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reports every configuration problem at once and exits 2, from flags, environment and file", async () => {
    const file = join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ MDE_DEFAULT_WAIT_SECONDS: -3, NOT_A_SETTING: "x" }));
    const result = await run(["serve", "--config", file, "--transport", "smoke", "--time-scale", "fast"], {
      MDE_CLOUD: "mars",
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    for (const text of [
      "MDE_TRANSPORT must be stdio or http",
      "MDE_TIME_SCALE (--time-scale): MDE_TIME_SCALE must be a number",
      "MDE_CLOUD (environment): MDE_CLOUD must be one of commercial",
      `MDE_DEFAULT_WAIT_SECONDS (config file ${file}): MDE_DEFAULT_WAIT_SECONDS must be at least 0`,
      `config file ${file}: unknown setting "NOT_A_SETTING"`,
    ]) {
      expect(result.stderr).toContain(text);
    }
  });

  it("serve is the default command when the first argument is a flag", async () => {
    const result = await run(["--transport", "sse"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("MDE_TRANSPORT must be stdio or http");
  });

  it("serve without credentials says which variables to set, suggests --simulator, and exits 2", async () => {
    const result = await run([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("no credential is configured: set exactly one of AZURE_CLIENT_SECRET");
    expect(result.stderr).toContain("--simulator");
  });

  it("check --simulator checks token, permissions and reads against the embedded simulator", async () => {
    const result = await run(["check", "--simulator"], { MDE_TIME_SCALE: "600" });
    expect(result.stdout).toContain("(embedded simulator)");
    expect(result.stdout).toContain("ok   token acquired");
    expect(result.stdout).toContain("ok   permission Machine.LiveResponse");
    expect(result.stdout).toMatch(/ok {3}library: 13 file\(s\)/);
    expect(result.stdout).not.toContain("FAIL");
    expect(result.code).toBe(0);
  });

  it("check honours --config", async () => {
    const file = join(dir, "simulated.json");
    await writeFile(file, JSON.stringify({ MDE_SIMULATOR: "1", MDE_TIME_SCALE: 600 }));
    const result = await run(["check", "--config", file]);
    expect(result.stdout).toContain("(embedded simulator)");
    expect(result.code).toBe(0);
  });

  it("--help lists the commands, the flags and every setting from the schema", async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    for (const word of ["serve", "check", "simulator", "--simulator", "--config FILE", "--transport NAME"]) {
      expect(result.stdout).toContain(word);
    }
    for (const name of SETTING_NAMES) expect(result.stdout).toContain(name);
    expect(result.stdout).toContain("Default: 45.");
    expect((await run(["serve", "--help"])).stdout).toBe(result.stdout);
  });

  it("--version prints the package version", async () => {
    const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    const result = await run(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it("--version and -v work after any command, as --help does", async () => {
    const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    for (const args of [["serve", "--version"], ["check", "-v"], ["simulator", "--version"], ["-v"]]) {
      const result = await run(args);
      expect(result, args.join(" ")).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    }
  });
});
