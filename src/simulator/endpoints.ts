/**
 * The API's endpoint templates. Limits, fault targeting and stats are all keyed by these names, so
 * they live in one table: the method, the path shape and the application permissions each one takes
 * (reference §1.3).
 */
export const ENDPOINT_NAMES = [
  "runliveresponse",
  "getMachineAction",
  "listMachineActions",
  "cancelMachineAction",
  "getResultDownloadLink",
  "listMachines",
  "getMachine",
  "listLibraryFiles",
  "uploadLibraryFile",
  "deleteLibraryFile",
] as const;
export type EndpointName = (typeof ENDPOINT_NAMES)[number];

const READ_ROLES = ["Machine.Read.All", "Machine.ReadWrite.All"];
export const CANCEL_ROLES = [
  "Machine.CollectForensics",
  "Machine.Isolate",
  "Machine.RestrictExecution",
  "Machine.Scan",
  "Machine.Offboard",
  "Machine.StopAndQuarantine",
  "Machine.LiveResponse",
];

interface EndpointSpec {
  name: EndpointName;
  method: "GET" | "POST" | "DELETE";
  /** Matched against the decoded path after the `/api` (and optional `/v1.0`) prefix, case-insensitively. */
  pattern: RegExp;
  /** Any one of these roles grants the call. */
  roles: readonly string[];
}

const ENDPOINTS: readonly EndpointSpec[] = [
  {
    name: "runliveresponse",
    method: "POST",
    pattern: /^\/machines\/([^/]+)\/runliveresponse$/i,
    roles: ["Machine.LiveResponse"],
  },
  {
    name: "getResultDownloadLink",
    method: "GET",
    pattern: /^\/machineactions\/([^/]+)\/GetLiveResponseResultDownloadLink\(index=([^)]*)\)$/i,
    roles: [...READ_ROLES, "Machine.LiveResponse"],
  },
  {
    name: "cancelMachineAction",
    method: "POST",
    pattern: /^\/machineactions\/([^/]+)\/cancel$/i,
    roles: CANCEL_ROLES,
  },
  { name: "getMachineAction", method: "GET", pattern: /^\/machineactions\/([^/]+)$/i, roles: READ_ROLES },
  { name: "listMachineActions", method: "GET", pattern: /^\/machineactions$/i, roles: READ_ROLES },
  { name: "getMachine", method: "GET", pattern: /^\/machines\/([^/]+)$/i, roles: READ_ROLES },
  { name: "listMachines", method: "GET", pattern: /^\/machines$/i, roles: READ_ROLES },
  { name: "listLibraryFiles", method: "GET", pattern: /^\/libraryfiles$/i, roles: ["Library.Manage"] },
  { name: "uploadLibraryFile", method: "POST", pattern: /^\/libraryfiles$/i, roles: ["Library.Manage"] },
  {
    name: "deleteLibraryFile",
    method: "DELETE",
    pattern: /^\/libraryfiles\/([^/]+)$/i,
    roles: ["Library.Manage"],
  },
];

export type EndpointMatch =
  | { kind: "endpoint"; name: EndpointName; roles: readonly string[]; params: string[] }
  | { kind: "wrongMethod"; allowed: string }
  | { kind: "none" };

const API_PREFIX = /^\/api(?:\/v1\.0)?(?=\/)/i;

/** True for every path under `/api`, matched or not (those get the API's JSON 404). */
export function isApiPath(pathname: string): boolean {
  return /^\/api(?:\/|$)/i.test(pathname);
}

export function matchEndpoint(method: string, pathname: string): EndpointMatch {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { kind: "none" };
  }
  const prefix = API_PREFIX.exec(decoded);
  if (!prefix) return { kind: "none" };
  const rest = decoded.slice(prefix[0].length).replace(/\/$/, "");
  const allowed: string[] = [];
  for (const spec of ENDPOINTS) {
    const m = spec.pattern.exec(rest);
    if (!m) continue;
    if (spec.method === method) {
      return { kind: "endpoint", name: spec.name, roles: spec.roles, params: m.slice(1).map((p) => p ?? "") };
    }
    allowed.push(spec.method);
  }
  return allowed.length > 0
    ? { kind: "wrongMethod", allowed: [...new Set(allowed)].join(", ") }
    : { kind: "none" };
}
