import type http from "node:http";
import { FaultsError, type Faults } from "./faults.js";
import {
  apiError,
  BodyTooLargeError,
  parseJsonBody,
  readBody,
  writeJson,
  type JsonReply,
} from "./httpUtil.js";
import type { SimulatorStats } from "./stats.js";

/**
 * `/_simulator/*`: what the simulator saw, fault injection and a clean slate. These take no bearer
 * token: the simulator is meant for loopback use by the person or test driving it.
 */
export const CONTROL_PREFIX = "/_simulator/";

export interface ControlRouteDeps {
  stats: () => SimulatorStats;
  faults: () => Faults;
  setFaults: (input: unknown) => Faults;
  reset: () => void;
  maxBodyBytes: number;
}

export function isControlPath(pathname: string): boolean {
  return pathname.toLowerCase().startsWith(CONTROL_PREFIX);
}

export async function handleControl(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  deps: ControlRouteDeps,
): Promise<void> {
  writeJson(res, await controlReply(req, url, deps));
}

async function controlReply(req: http.IncomingMessage, url: URL, deps: ControlRouteDeps): Promise<JsonReply> {
  const route = `${req.method ?? "GET"} ${url.pathname.slice(CONTROL_PREFIX.length).toLowerCase()}`;
  switch (route) {
    case "GET stats":
      return { status: 200, body: deps.stats() };
    case "GET faults":
      return { status: 200, body: deps.faults() };
    case "POST faults": {
      let body: Buffer;
      try {
        body = await readBody(req, deps.maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) return apiError(400, "InvalidRequestBody", err.message);
        throw err;
      }
      const parsed = parseJsonBody(body);
      if (!parsed.ok) return apiError(400, "InvalidRequestBody", "Request body is not valid JSON");
      try {
        return { status: 200, body: deps.setFaults(parsed.value ?? {}) };
      } catch (err) {
        if (err instanceof FaultsError) return apiError(400, "InvalidRequestBody", err.message);
        throw err;
      }
    }
    case "POST reset":
      deps.reset();
      return { status: 204 };
    default:
      return apiError(
        404,
        "NotFound",
        "Unknown simulator control route; use GET stats, GET/POST faults or POST reset",
      );
  }
}
