import { format } from "node:util";

/**
 * Over stdio, stdout carries JSON-RPC and nothing else: one stray line from any library breaks the
 * client's parser. Console output meant for stdout is sent to stderr instead; logs already go there.
 */
export function keepStdoutForProtocol(): void {
  const toStderr = (...args: unknown[]): void => {
    process.stderr.write(`${format(...args)}\n`);
  };
  Object.assign(console, { log: toStderr, info: toStderr, debug: toStderr, dir: toStderr, table: toStderr });
}
