import { parseArgs } from "node:util";
import { z } from "zod";
import type { SimulatorOptions } from "./server.js";

/**
 * The `simulator` command's flags, one zod schema from text to `SimulatorOptions`: every setting the
 * reference leaves open (merging, unknown library files, session cap, queue time) can be chosen from
 * the command line, and every mistake is reported at once with the flag that fixes it.
 */

const whole = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: `--${flag} must be a whole number` })
    .int({ error: `--${flag} must be a whole number` })
    .min(min, { error: `--${flag} must be at least ${min}` })
    .max(max, { error: `--${flag} must be at most ${max}` });

const positive = (flag: string) =>
  z.coerce
    .number({ error: `--${flag} must be a number` })
    .positive({ error: `--${flag} must be a number greater than 0, e.g. --${flag} 60` });

export const SimulatorFlagsSchema = z.object({
  port: whole("port", 0, 65535).default(0).describe("listen port (default: a free port)"),
  host: z.string().min(1).default("127.0.0.1").describe("listen address (default 127.0.0.1)"),
  scenario: z.string().min(1).optional().describe("tenant scenario JSON (default: the Contoso demo tenant)"),
  "time-scale": positive("time-scale").optional().describe("run every duration X times faster"),
  profile: z
    .enum(["classic", "extended"], { error: "--profile must be classic or extended" })
    .default("classic")
    .describe("classic: 25 sessions, 3-day offline queue; extended: 50 sessions, 2 hours"),
  "max-sessions": whole("max-sessions", 1).optional().describe("session cap (overrides the profile)"),
  "offline-queue-seconds": whole("offline-queue-seconds", 1)
    .optional()
    .describe("how long an offline device's action queues before TimeOut (overrides the profile)"),
  "run-script-timeout-seconds": whole("run-script-timeout-seconds", 1)
    .optional()
    .describe("RunScript limit (default 600)"),
  "merge-identical-requests": z
    .boolean()
    .default(false)
    .describe("return the active action for an identical request within 30 s, as the API sometimes does"),
  "unknown-library-file": z
    .enum(["reject", "fail"], { error: "--unknown-library-file must be reject or fail" })
    .default("reject")
    .describe("reject: 404 at submit (default); fail: the command fails when it runs"),
  "page-size": whole("page-size", 1, 10_000)
    .default(10_000)
    .describe("items per list page before a nextLink"),
});
export type SimulatorFlags = z.infer<typeof SimulatorFlagsSchema>;

export class SimulatorFlagsError extends Error {
  readonly code = "USAGE";
}

/** The flags as `node:util` parseArgs options, derived from the schema. */
function parseArgsOptions(): Record<string, { type: "string" | "boolean" }> {
  return Object.fromEntries(
    Object.entries(SimulatorFlagsSchema.shape).map(([name, field]) => [
      name,
      { type: field.safeParse(undefined).data === false ? "boolean" : "string" },
    ]),
  );
}

export function parseSimulatorFlags(args: string[]): SimulatorFlags {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options: parseArgsOptions(), strict: true }).values;
  } catch (err) {
    throw new SimulatorFlagsError((err as Error).message);
  }
  const parsed = SimulatorFlagsSchema.safeParse(values);
  if (!parsed.success) {
    throw new SimulatorFlagsError(parsed.error.issues.map((i) => i.message).join("\n"));
  }
  return parsed.data;
}

/** The `startSimulator` options the flags ask for; `timeScale` falls back to the caller's setting. */
export function simulatorOptionsFrom(
  flags: SimulatorFlags,
  defaults: { timeScale: number },
): Omit<SimulatorOptions, "scenario" | "logger"> {
  return {
    port: flags.port,
    host: flags.host,
    timeScale: flags["time-scale"] ?? defaults.timeScale,
    profile: flags.profile,
    mergeIdenticalRequests: flags["merge-identical-requests"],
    unknownLibraryFile: flags["unknown-library-file"],
    pageSize: flags["page-size"],
    ...(flags["max-sessions"] === undefined ? {} : { maxSessions: flags["max-sessions"] }),
    ...(flags["offline-queue-seconds"] === undefined
      ? {}
      : { offlineQueueSeconds: flags["offline-queue-seconds"] }),
    ...(flags["run-script-timeout-seconds"] === undefined
      ? {}
      : { runScriptTimeoutSeconds: flags["run-script-timeout-seconds"] }),
  };
}

/** Help lines for the flags, from their descriptions. */
export function simulatorFlagsHelp(): string[] {
  const options = parseArgsOptions();
  return Object.entries(SimulatorFlagsSchema.shape).map(([name, field]) => {
    const usage = `--${name}${options[name]?.type === "string" ? " X" : ""}`;
    return `                ${usage.padEnd(32)} ${field.description ?? ""}`;
  });
}
