import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * `node` arguments that run the CLI from source (tsx) with `args`, under the same loopback-only
 * guard as the suite, so a child process cannot reach the internet either.
 */
export function sourceCliArgs(...args: string[]): string[] {
  return [
    "--import",
    "tsx",
    "--import",
    join(ROOT, "test", "setup", "loopbackOnly.ts"),
    join(ROOT, "src", "cli.ts"),
    ...args,
  ];
}
