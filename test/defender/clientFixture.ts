import { mkdtemp, rm } from "node:fs/promises";
import { expect } from "vitest";
import https from "node:https";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MsalTokenProvider } from "../../src/auth/msalTokenProvider.js";
import type { TokenProvider, TokenRequestOptions } from "../../src/auth/tokenProvider.js";
import { DefenderClient, type DefenderClientOptions } from "../../src/defender/defenderClient.js";
import { isFinalActionStatus, type MachineAction } from "../../src/defender/schemas.js";
import { pino } from "pino";
import { createLogger, type Logger } from "../../src/logger.js";
import type { SimulatorOptions } from "../../src/simulator/index.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { TEST_TIME_SCALE, startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";

/**
 * The client under test wired to a real simulator over HTTPS, with a real msal-node token provider
 * talking to the simulator's token endpoint.
 */

export const SCOPE = "https://api.securitycenter.microsoft.com/.default";
export const quietLogger = createLogger({ level: "silent" });

/** Devices of the default scenario (reference demo tenant). */
export const DEVICES = {
  /** fin-ws-0142: online Windows workstation with EventLogs.zip (2.5 MB). */
  finance: "9d663375e3e46799a6657b0c0c74b873c9fcd069",
  /** hr-ws-0087: online Windows workstation. */
  hr: "2be8a43e061cff68020fca2c9ac134d5d0d20a1b",
  /** kiosk-lobby-01: never online, so its actions stay Pending. */
  offlineKiosk: "b63153e8bd6b82ee9f39c9d441678fcfc24fc2ee",
  /** dc01: online domain controller. */
  dc: "bc2f7802a52ee6df330a0a7b77cfdd9d03f5fb67",
  /** app-srv-03: online server. */
  appServer: "11e173f447eb1664cc06be68f834395c51308fce",
  /** fs01: online file server. */
  fileServer: "01646d6c331924c57860df4ec2d905eec46a71c5",
} as const;

export const SCRIPT = "Get-ProcessList.ps1";
export const OTHER_SCRIPT = "Get-NetConnections.ps1";

export function msalProvider(
  t: TestSimulator,
  app: { clientId: string; clientSecret: string } = {
    clientId: t.sim.clientId,
    clientSecret: t.sim.clientSecret ?? "",
  },
): MsalTokenProvider {
  return new MsalTokenProvider({
    tenantId: t.sim.tenantId,
    clientId: app.clientId,
    credential: { kind: "secret", clientSecret: app.clientSecret },
    authorityHost: t.sim.authorityHost,
    scope: SCOPE,
    ca: t.sim.caCertPem,
  });
}

export interface ClientFixture {
  t: TestSimulator;
  tokenProvider: MsalTokenProvider;
  /** A client of this simulator; closed by `close()`. */
  client(options?: Partial<DefenderClientOptions>): DefenderClient;
  close(): Promise<void>;
}

export async function startClientFixture(options: SimulatorOptions = {}): Promise<ClientFixture> {
  const t = await startTestSimulator(options);
  const tokenProvider = msalProvider(t);
  const clients: DefenderClient[] = [];
  return {
    t,
    tokenProvider,
    client(overrides = {}) {
      const client = new DefenderClient({
        apiBaseUrl: t.sim.apiBase,
        tokenProvider,
        timeScale: options.timeScale ?? TEST_TIME_SCALE,
        ca: t.sim.caCertPem,
        logger: quietLogger,
        ...overrides,
      });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await t.close();
    },
  };
}

/** Wraps a provider, counting calls and serving `badTokens` invalid tokens first. */
export class CountingTokenProvider implements TokenProvider {
  readonly description = "test wrapper";
  readonly requests: TokenRequestOptions[] = [];

  constructor(
    private readonly inner: TokenProvider,
    private badTokens: number,
  ) {}

  async getToken(options: TokenRequestOptions = {}): Promise<string> {
    this.requests.push(options);
    if (this.badTokens > 0) {
      this.badTokens -= 1;
      return "not-a-valid-token";
    }
    return this.inner.getToken(options);
  }
}

/** Polls until the action is final; the simulator's time scale makes this take milliseconds. */
export async function waitForFinal(client: DefenderClient, actionId: string): Promise<MachineAction> {
  for (let i = 0; i < 2_000; i++) {
    const action = await client.getMachineAction(actionId);
    if (isFinalActionStatus(action.status)) return action;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`action ${actionId} did not finish`);
}

/** Settles a promise that must fail and returns its error. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof Error)) throw new Error("expected the call to fail");
  return outcome;
}

/**
 * Failures of one test file, with every message kept so the file can finally assert that none of
 * them carried a token, a secret or a SAS signature.
 */
export function failureRecorder(): {
  messages: string[];
  failure<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E>;
} {
  const messages: string[] = [];
  return {
    messages,
    async failure<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
      const error = await rejectionOf(promise);
      messages.push(error.message);
      expect(error).toBeInstanceOf(type);
      return error as E;
    },
  };
}

/**
 * A stand-in for the remote side when the simulator cannot produce a variant (a redirecting blob
 * host, a foreign next link, the docs' alternative field names): a real HTTPS server on loopback
 * answering with what `handler` writes.
 */
export interface StubServer {
  origin: string;
  caCertPem: string;
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

export async function startStubServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<StubServer> {
  const dir = await mkdtemp(join(tmpdir(), "defender-stub-"));
  const tls = await createSimulatorTls({ hostnames: [], dir });
  const requests: http.IncomingMessage[] = [];
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://127.0.0.1:${port}`,
    caCertPem: tls.caCertPem,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A debug-level logger whose lines the test can read. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

/** A token provider for stub servers, which check nothing. */
export const staticTokenProvider: TokenProvider = {
  description: "static test token",
  getToken: async () => "stub-token",
};
