import { Agent, request } from "undici";
import {
  defaultScenario,
  parseScenario,
  startSimulator,
  type RunningSimulator,
  type Scenario,
  type ScenarioInput,
  type SimulatorOptions,
} from "../../src/simulator/index.js";

/**
 * Starts a simulator for a test and talks to it like a client would: real HTTPS with the simulator's
 * CA, a client-credentials token from its token endpoint, plain undici requests. Tests default to a
 * large time scale so the API's minutes pass in milliseconds.
 */
export const TEST_TIME_SCALE = 600;

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface CallOptions {
  body?: unknown;
  /** A bearer token; null sends no Authorization header; default the first app's token. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface TestSimulator {
  sim: RunningSimulator;
  dispatcher: Agent;
  /** A client-credentials token for an app of the scenario (default: the first app). */
  token(app?: { clientId: string; clientSecret: string }, scope?: string): Promise<string>;
  /** `path` is relative to the API base (e.g. "/api/machines") or a full URL (e.g. a blob link). */
  call(method: string, path: string, options?: CallOptions): Promise<HttpResult>;
  close(): Promise<void>;
}

export async function startTestSimulator(options: SimulatorOptions = {}): Promise<TestSimulator> {
  const sim = await startSimulator({ timeScale: TEST_TIME_SCALE, ...options });
  const dispatcher = new Agent({ connect: { ca: sim.caCertPem } });
  let defaultToken: string | undefined;

  const call = async (method: string, path: string, opts: CallOptions = {}): Promise<HttpResult> => {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? (defaultToken ??= await fetchToken()) : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    const url = /^https:\/\//.test(path) ? path : `${sim.apiBase}${path}`;
    const res = await request(url, { method: method as "GET", headers, body, dispatcher });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, json };
  };

  const fetchToken = async (
    app?: { clientId: string; clientSecret: string },
    scope = "https://api.securitycenter.microsoft.com/.default",
  ): Promise<string> => {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: app?.clientId ?? sim.clientId,
      client_secret: app?.clientSecret ?? sim.clientSecret ?? "",
      scope,
    });
    const res = await call("POST", `${sim.authorityHost}/${sim.tenantId}/oauth2/v2.0/token`, {
      token: null,
      body: form.toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    const token = (res.json as { access_token?: unknown } | undefined)?.access_token;
    if (res.status !== 200 || typeof token !== "string") {
      throw new Error(`token request failed with HTTP ${res.status}`);
    }
    return token;
  };

  return {
    sim,
    dispatcher,
    token: fetchToken,
    call,
    close: async () => {
      await dispatcher.close();
      await sim.close();
    },
  };
}

type DeviceInput = ScenarioInput["devices"][number];
type AppInput = ScenarioInput["apps"][number];

/**
 * The default scenario (its app, library and devices) plus `count` generated Windows devices, e.g.
 * for eleven submits on eleven devices. Generated ids are `ffffffff` then the index in 32 hex digits.
 */
export function scenarioWith(options: {
  devices?: number;
  device?: Partial<DeviceInput>;
  apps?: AppInput[];
}): Scenario {
  const base = defaultScenario();
  const generated = Array.from({ length: options.devices ?? 0 }, (_, i) => ({
    id: generatedDeviceId(i),
    computerDnsName: `test-ws-${String(i).padStart(4, "0")}.contoso.com`,
    osPlatform: "Windows11",
    ...options.device,
  }));
  return parseScenario({
    ...base,
    apps: [...base.apps, ...(options.apps ?? [])],
    devices: [...base.devices, ...generated],
  });
}

export function generatedDeviceId(index: number): string {
  return `ffffffff${index.toString(16).padStart(32, "0")}`;
}
