#!/usr/bin/env node
import { parseArgs } from "node:util";
import { readSettings, ConfigError } from "./config/settings.js";
import { createLogger } from "./logger.js";
import { loadScenarioFile, ScenarioError } from "./simulator/scenario.js";
import { startSimulator } from "./simulator/index.js";
import { runCheck } from "./check.js";

const USAGE = `Usage: mde-live-response-mcp <command> [options]

Commands:
  simulator   Run the Defender for Endpoint API simulator (HTTPS on loopback).
              Prints one JSON line: apiBase, authorityHost, tenantId, clientId, clientSecret, caFile.
                --port N          listen port (default: a free port)
                --host ADDR       listen address (default 127.0.0.1)
                --scenario FILE   tenant scenario JSON (default: the built-in Contoso demo tenant)
                --time-scale X    run every duration X times faster (default MDE_TIME_SCALE or 1)
                --profile NAME    classic (25 sessions, 3-day queue; default) or extended (50, 2 hours)
  check       Check configuration and credentials against the API and say what is wrong.

Options:
  -h, --help      show this help
  -v, --version   print the version
`;

class UsageError extends Error {
  readonly code = "USAGE";
}

async function simulatorCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      scenario: { type: "string" },
      "time-scale": { type: "string" },
      profile: { type: "string" },
    },
    strict: true,
  });
  const settings = readSettings();
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError("--port must be a whole number from 0 to 65535");
  }
  const timeScale =
    values["time-scale"] === undefined ? settings.MDE_TIME_SCALE : Number(values["time-scale"]);
  if (!Number.isFinite(timeScale) || timeScale <= 0) {
    throw new UsageError("--time-scale must be a number greater than 0, e.g. --time-scale 60");
  }
  const profile = values.profile ?? "classic";
  if (profile !== "classic" && profile !== "extended") {
    throw new UsageError("--profile must be classic or extended");
  }
  const logger = createLogger({ level: settings.LOG_LEVEL, name: "mde-simulator" });
  const scenario = values.scenario === undefined ? undefined : await loadScenarioFile(values.scenario);
  const simulator = await startSimulator({
    port,
    host: values.host ?? "127.0.0.1",
    timeScale,
    profile,
    logger,
    ...(scenario ? { scenario } : {}),
  });
  // stdout carries exactly one line a script can parse; everything else goes to stderr.
  process.stdout.write(`${JSON.stringify(simulator.connectionInfo())}\n`);
  logger.info({ apiBase: simulator.apiBase, timeScale, profile }, "simulator listening");
  const stop = (): void => {
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === "-v" || command === "--version") {
    const { version } = await import("./version.js");
    process.stdout.write(`${version}\n`);
    return 0;
  }
  switch (command) {
    case "simulator":
      await simulatorCommand(rest);
      return -1; // keeps running until a signal
    case "check":
      return runCheck(readSettings(), process.stdout);
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const known =
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof ScenarioError ||
      (err instanceof Error && "code" in err && err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION");
    console.error(`mde-live-response-mcp: ${err instanceof Error ? err.message : String(err)}`);
    if (!known && err instanceof Error && process.env.LOG_LEVEL === "debug") console.error(err.stack);
    process.exitCode = 2;
  },
);
