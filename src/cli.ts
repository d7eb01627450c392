#!/usr/bin/env node
import { AuthenticationError } from "./auth/errors.js";
import { loadConfig } from "./config/loadConfig.js";
import { readSettings, ConfigError } from "./config/settings.js";
import { PolicyError } from "./policy/policyError.js";
import { settingsReference } from "./config/settingsReference.js";
import { createLogger } from "./logger.js";
import { loadScenarioFile, ScenarioError } from "./simulator/scenario.js";
import {
  parseSimulatorFlags,
  simulatorFlagsHelp,
  simulatorOptionsFrom,
  SimulatorFlagsError,
} from "./simulator/cliOptions.js";
import { version } from "./version.js";

/*
 * Each command loads its modules when it runs, so --help, --version and configuration mistakes answer
 * without loading the server, the simulator and their dependencies.
 */

/** After a clean shutdown the process should end by itself; this names a leak instead of hanging a client. */
const EXIT_GRACE_MS = 5_000;

function usage(): string {
  const settings = settingsReference();
  const flagWidth = Math.max(...settings.map((s) => s.flag?.length ?? 0));
  const nameWidth = Math.max(...settings.map((s) => s.name.length));
  const flags = settings
    .filter((s) => s.flag !== undefined)
    .map((s) => `  ${(s.flag ?? "").padEnd(flagWidth)}  sets ${s.name}: ${s.description}`);
  const variables = settings.map(
    (s) =>
      `  ${s.name.padEnd(nameWidth)}  ${s.description}${s.default === undefined ? "" : ` Default: ${s.default}.`}`,
  );
  return `Usage: mde-live-response-mcp [serve] [options]
       mde-live-response-mcp check [options]
       mde-live-response-mcp simulator [simulator options]
       mde-live-response-mcp audit verify FILE

Commands:
  serve       The MCP server (the default command): over stdio, stdout being the protocol, or with
              --transport http as Streamable HTTP at /mcp (plus /healthz, /readyz, /metrics).
              Logs go to stderr.
  check       Check configuration and credentials against the API and say what is wrong.
  simulator   Run the Defender for Endpoint API simulator (HTTPS on loopback).
              Prints one JSON line: apiBase, authorityHost, tenantId, clientId, clientSecret, caFile.
${simulatorFlagsHelp().join("\n")}
  audit verify FILE
              Check an audit log's hash chain (MDE_AUDIT_LOG). Exit 0 when intact, 1 naming the first
              bad record on stderr, 2 when FILE is missing or unreadable.

Options of serve and check:
${flags.join("\n")}
  ${"-h, --help".padEnd(flagWidth)}  show this help
  ${"-v, --version".padEnd(flagWidth)}  print the version

Settings (environment variables; a --config JSON file takes the same names as keys).
Flags win over the environment, the environment over the config file, the file over the defaults.
${variables.join("\n")}
`;
}

class UsageError extends Error {
  readonly code = "USAGE";
}

async function simulatorCommand(args: string[]): Promise<void> {
  const flags = parseSimulatorFlags(args);
  const settings = readSettings();
  const options = simulatorOptionsFrom(flags, { timeScale: settings.MDE_TIME_SCALE });
  const logger = createLogger({ level: settings.LOG_LEVEL, name: "mde-simulator" });
  const scenario = flags.scenario === undefined ? undefined : await loadScenarioFile(flags.scenario);
  const { startSimulator } = await import("./simulator/index.js");
  const simulator = await startSimulator({ ...options, logger, ...(scenario ? { scenario } : {}) });
  // stdout carries exactly one line a script can parse; everything else goes to stderr.
  process.stdout.write(`${JSON.stringify(simulator.connectionInfo())}\n`);
  logger.info({ apiBase: simulator.apiBase, ...options }, "simulator listening");
  const stop = (): void => {
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const configFrom = (args: string[]) => loadConfig({ argv: args, env: process.env, cwd: process.cwd() });

async function serveCommand(args: string[]): Promise<number> {
  const settings = configFrom(args);
  if (settings.MDE_TRANSPORT === "http") {
    const { runHttpServer } = await import("./http/runHttpServer.js");
    await runHttpServer(settings);
  } else {
    const { runStdioServer } = await import("./server/stdio.js");
    await runStdioServer(settings);
  }
  setTimeout(() => {
    console.error(`mde-live-response-mcp: still running ${EXIT_GRACE_MS} ms after shutdown; exiting`);
    process.exit(0);
  }, EXIT_GRACE_MS).unref();
  return 0;
}

async function auditCommand(args: string[]): Promise<number> {
  const [subcommand, file, ...extra] = args;
  if (subcommand !== "verify" || file === undefined || extra.length > 0) {
    throw new UsageError("usage: mde-live-response-mcp audit verify FILE");
  }
  const { verifyAuditLog } = await import("./audit/verifyAuditLog.js");
  const result = await verifyAuditLog(file);
  if (result.ok) {
    process.stdout.write(`audit log ${file}: ${result.records} records, chain intact\n`);
    return 0;
  }
  const { line, seq, reason } = result.firstBad;
  console.error(
    `mde-live-response-mcp: audit log ${file}: first bad record at line ${line}${seq === undefined ? "" : ` (seq ${seq})`}: ${reason}; the ${result.records} records before it are intact`,
  );
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "help" || argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(usage());
    return 0;
  }
  if (argv.includes("-v") || argv.includes("--version")) {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (command === undefined || command.startsWith("-")) return serveCommand(argv);
  switch (command) {
    case "serve":
      return serveCommand(rest);
    case "simulator":
      await simulatorCommand(rest);
      return -1; // keeps running until a signal
    case "audit":
      return auditCommand(rest);
    case "check": {
      const settings = configFrom(rest);
      const { runCheck } = await import("./check.js");
      return runCheck(settings, process.stdout);
    }
    default:
      throw new UsageError(`unknown command "${command}"; see --help`);
  }
}

/** Mistakes a user fixes in their command line or settings: exit code 2 and no stack. */
function isUsageMistake(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    err instanceof ScenarioError ||
    err instanceof SimulatorFlagsError ||
    (err instanceof Error && "code" in err && err.code === "AUDIT_UNREADABLE") ||
    err instanceof PolicyError ||
    (err instanceof AuthenticationError && err.code === "AUTH_CONFIG") ||
    (err instanceof Error && "code" in err && err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const mistake = isUsageMistake(err);
    const hint =
      err instanceof AuthenticationError ? " (or add --simulator to try the server without a tenant)" : "";
    console.error(`mde-live-response-mcp: ${err instanceof Error ? err.message : String(err)}${hint}`);
    if (!mistake && err instanceof Error && process.env.LOG_LEVEL === "debug") console.error(err.stack);
    process.exitCode = mistake ? 2 : 1;
  },
);
