import type { TokenProvider } from "../auth/tokenProvider.js";

/**
 * One condition `/readyz` requires: it resolves when met and throws, saying why, when not. The
 * coordination layer adds its own (Redis reachable) through the server's options.
 */
export interface ReadinessCheck {
  name: string;
  check(signal: AbortSignal): Promise<void>;
}

export interface ReadinessReport {
  ready: boolean;
  /** "ok", or why the check failed. */
  checks: Record<string, string>;
}

/** A probe is answered within this, whatever a check is waiting for. */
const CHECK_TIMEOUT_MS = 5_000;
const MAX_REASON_CHARS = 300;

/** The server can call Defender: its credential yields a token (from msal-node's cache when it has one). */
export function defenderTokenCheck(tokenProvider: TokenProvider): ReadinessCheck {
  return {
    name: "defender_token",
    check: async (signal) => {
      await tokenProvider.getToken({ signal });
    },
  };
}

export async function runReadinessChecks(checks: readonly ReadinessCheck[]): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async ({ name, check }): Promise<[string, string]> => {
      const signal = AbortSignal.timeout(CHECK_TIMEOUT_MS);
      try {
        await Promise.race([
          check(signal),
          new Promise<never>((_, reject) =>
            signal.addEventListener("abort", () => reject(new Error("no answer within 5 s")), { once: true }),
          ),
        ]);
        return [name, "ok"];
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return [name, reason.slice(0, MAX_REASON_CHARS)];
      }
    }),
  );
  return { ready: results.every(([, r]) => r === "ok"), checks: Object.fromEntries(results) };
}
