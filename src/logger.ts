import { pino, type Logger } from "pino";

/**
 * Logs always go to stderr: in stdio mode stdout carries the MCP protocol. Known secret-bearing
 * fields are redacted as a second line of defence; code must still never log a token or a SAS URL.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? "mde-live-response-mcp",
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      redact: {
        paths: [
          "*.authorization",
          "*.Authorization",
          "*.access_token",
          "*.client_secret",
          "*.clientSecret",
          "*.client_assertion",
          "*.token",
          "*.sasUrl",
          "headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export type { Logger };
