import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Logger } from "../logger.js";
import type { Principal } from "./principal.js";

/** One MCP session over HTTP: its own McpServer (on the shared runtime) and transport, bound to who opened it. */
export interface McpSession {
  id: string;
  principal: Principal;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
}

interface Entry {
  session: McpSession;
  lastActiveMs: number;
  /** Requests (POST, GET stream) still being answered: a session is never idle while one is. */
  open: number;
}

export type SessionLookup =
  { found: true; session: McpSession } | { found: false; reason: "unknown" | "other_principal" };

/** The sweep runs at a quarter of the idle timeout, but at least this often. */
const MAX_SWEEP_MS = 60_000;

/**
 * The open sessions. A session id is a bearer of nothing: every request is authenticated first, and
 * a session is only found for the principal that opened it (MCP security best practices, "session
 * hijacking"), so a leaked id is useless to anyone else. Sessions nobody used for `idleMs` are closed.
 */
export class SessionStore {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: { idleMs: number; logger: Logger; now?: () => number }) {
    this.sweeper = setInterval(() => void this.closeIdle(), Math.min(options.idleMs / 4, MAX_SWEEP_MS));
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  list(): Array<{ id: string; principal: Principal }> {
    return [...this.entries.values()].map(({ session }) => ({
      id: session.id,
      principal: session.principal,
    }));
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  add(session: McpSession): void {
    this.entries.set(session.id, { session, lastActiveMs: this.now(), open: 0 });
    this.options.logger.info(
      { session: session.id, principal: session.principal.name, principalId: session.principal.id },
      "MCP session opened",
    );
  }

  find(id: string, principal: Principal): SessionLookup {
    const entry = this.entries.get(id);
    if (entry === undefined) return { found: false, reason: "unknown" };
    if (entry.session.principal.id !== principal.id) return { found: false, reason: "other_principal" };
    return { found: true, session: entry.session };
  }

  /** A request of the session is being answered; call the returned function when its response ends. */
  begin(id: string): () => void {
    const entry = this.entries.get(id);
    if (entry === undefined) return () => {};
    entry.open += 1;
    entry.lastActiveMs = this.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      entry.open -= 1;
      entry.lastActiveMs = this.now();
    };
  }

  /** Closes the session's server and transport (streams end, tasks stop); a no-op for an unknown id. */
  async close(id: string, reason: string): Promise<void> {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.options.logger.info(
      { session: id, principal: entry.session.principal.name, reason },
      "MCP session closed",
    );
    try {
      await entry.session.server.close();
    } catch (error) {
      this.options.logger.warn({ session: id, err: String(error) }, "MCP session did not close cleanly");
    }
  }

  async closeAll(reason: string): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.entries.keys()].map((id) => this.close(id, reason)));
  }

  private async closeIdle(): Promise<void> {
    const cutoff = this.now() - this.options.idleMs;
    const idle = [...this.entries.values()].filter((e) => e.open === 0 && e.lastActiveMs <= cutoff);
    await Promise.all(idle.map((e) => this.close(e.session.id, "idle")));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
