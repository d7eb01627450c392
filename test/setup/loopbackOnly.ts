import net from "node:net";

/**
 * Every test runs offline: a connection to anything but the loopback range fails loudly instead of
 * leaving the machine. This patches the one place every Node client (undici, node:https, msal-node)
 * ends up in: net.Socket#connect.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  if (h.startsWith("::ffff:127.")) return true;
  return false;
}

export class NonLoopbackConnectionError extends Error {
  readonly code = "ERR_TEST_NON_LOOPBACK";
  constructor(host: string) {
    super(`test tried to connect to non-loopback host ${host}; tests must stay on 127.0.0.0/8 or ::1`);
  }
}

const original = net.Socket.prototype.connect;
type ConnectArgs = Parameters<typeof original>;

function hostOf(args: unknown[]): string | undefined {
  const first = args[0];
  if (Array.isArray(first)) return hostOf(first);
  if (first && typeof first === "object") {
    const o = first as { host?: string | null; path?: string | null };
    // net.connect treats a non-empty `path` as a unix socket or named pipe: local by construction.
    if (typeof o.path === "string" && o.path.length > 0) return undefined;
    return o.host ?? "localhost";
  }
  if (typeof first === "number") return typeof args[1] === "string" ? args[1] : "localhost";
  return undefined; // a path string: unix socket
}

net.Socket.prototype.connect = function patchedConnect(this: net.Socket, ...args: ConnectArgs) {
  const host = hostOf(args);
  if (host !== undefined && !isLoopbackHost(host)) {
    const err = new NonLoopbackConnectionError(host);
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return original.apply(this, args);
} as typeof original;
