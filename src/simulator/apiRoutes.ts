import type http from "node:http";
import type { Logger } from "../logger.js";
import type { ActionEngine } from "./actionEngine.js";
import type { BlobLinks } from "./blobLinks.js";
import { isDefenderAudience } from "./apiAudience.js";
import { DELEGATED_PERMISSIONS, userSeesGroup } from "./delegatedAccess.js";
import { matchEndpoint, type EndpointName } from "./endpoints.js";
import type { FaultInjector, FaultPlan } from "./faults.js";
import {
  apiError,
  parseJsonBody,
  readBody,
  BodyTooLargeError,
  sleep,
  writeJson,
  type JsonReply,
} from "./httpUtil.js";
import type { ApiLimits } from "./limits.js";
import { ODataQueryError, queryCollection, type ODataCollectionSpec } from "./odata.js";
import { LIBRARY_UPLOAD_MAX_BODY_BYTES, readLibraryUploadForm } from "./libraryUploadForm.js";
import type { StatsRecorder } from "./stats.js";
import type { TokenService } from "./tokenService.js";

/**
 * The Defender API's routes (reference §3). Every call goes the same way: route, bearer, permission,
 * injected throttling, the documented limits, then the handler; faults may then break the answer.
 * Handlers return replies rather than writing them, so an "after processing" fault really happens
 * after the action was created.
 */

const ACTIONS_SPEC: ODataCollectionSpec = {
  fields: {
    id: "string",
    type: "string",
    status: "string",
    machineId: "string",
    requestor: "string",
    creationDateTimeUtc: "datetime",
    lastUpdateDateTimeUtc: "datetime",
    computerDnsName: "string",
  },
  maxTop: 10_000,
  defaultOrderBy: { field: "creationDateTimeUtc", direction: "desc" },
};

const MACHINES_SPEC: ODataCollectionSpec = {
  fields: {
    computerDnsName: "string",
    id: "string",
    machineTags: "stringArray",
    lastSeen: "datetime",
    healthStatus: "string",
    osPlatform: "string",
    lastIpAddress: "string",
    rbacGroupId: "number",
    onboardingStatus: "string",
    riskScore: "string",
    exposureLevel: "string",
    deviceValue: "string",
    aadDeviceId: "string",
    version: "string",
  },
  maxTop: 10_000,
};

const FAULT_ERROR_CODES: Record<number, string> = {
  500: "InternalServerError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

export interface ApiRouteDeps {
  engine: ActionEngine;
  tokenService: TokenService;
  limits: ApiLimits;
  faults: FaultInjector;
  stats: StatsRecorder;
  blobLinks: BlobLinks;
  logger: Logger;
  maxBodyBytes: number;
  /** Server-driven page size of the collections (10,000 as documented; smaller to exercise paging). */
  pageSize: number;
}

interface CallContext {
  endpoint: EndpointName;
  params: string[];
  url: URL;
  /** `https://{Host}` as the request named the host: `@odata.context` and next links echo it. */
  origin: string;
  requestor: string;
  /** Whether the caller may see this device (a user's device groups; an app sees every device). */
  sees: (machineId: string) => boolean;
  body: Buffer;
  contentType: string | undefined;
}

export type ApiHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

export function createApiHandler(deps: ApiRouteDeps): ApiHandler {
  const { stats, logger } = deps;

  const finish = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    endpoint: string,
    reply: JsonReply,
  ): void => {
    writeJson(res, reply);
    logger.debug({ method: req.method, endpoint, status: reply.status }, "simulator api call");
  };

  return async (req, res, url) => {
    const match = matchEndpoint(req.method ?? "GET", url.pathname);
    if (match.kind === "none") {
      return finish(req, res, "unknown", apiError(404, "NotFound", "The requested resource was not found"));
    }
    if (match.kind === "wrongMethod") {
      const reply = apiError(
        405,
        "MethodNotAllowed",
        `The requested resource does not support method ${req.method}`,
        {
          allow: match.allowed,
        },
      );
      return finish(req, res, "unknown", reply);
    }
    const endpoint = match.name;
    stats.call(endpoint);

    const auth = deps.tokenService.verifyBearer(req.headers.authorization);
    if (!auth.ok || !isDefenderAudience(auth.caller.audience, [requestOrigin(req)])) {
      stats.unauthorized();
      const reply = apiError(401, "Unauthorized", "Authorization has been denied for this request.", {
        "www-authenticate": "Bearer",
      });
      return finish(req, res, endpoint, reply);
    }
    const { caller } = auth;
    const { user } = caller;
    stats.caller(user ? user.upn : `app:${caller.appId}`);
    const needed = user ? DELEGATED_PERMISSIONS[endpoint] : match.roles;
    if (!needed.some((permission) => (user ? user.scopes : caller.roles).includes(permission))) {
      const reply = apiError(
        403,
        "Forbidden",
        `The ${user ? "user's token" : "application"} does not have any of the required ${user ? "delegated" : "application"} permissions (${needed.join(", ")}) to access the resource.`,
      );
      return finish(req, res, endpoint, reply);
    }

    // Read only once the caller is known: an anonymous caller gets its 401 without us taking its upload.
    let body: Buffer = Buffer.alloc(0);
    if (req.method === "POST") {
      try {
        const maxBytes = endpoint === "uploadLibraryFile" ? LIBRARY_UPLOAD_MAX_BODY_BYTES : deps.maxBodyBytes;
        body = await readBody(req, maxBytes);
      } catch (err) {
        if (!(err instanceof BodyTooLargeError)) throw err;
        return finish(req, res, endpoint, apiError(400, "InvalidRequestBody", err.message));
      }
    }

    const plan = deps.faults.plan(endpoint);
    if (plan.throttleRetryAfterMs !== null) {
      stats.faultInjected("throttled");
      return finish(req, res, endpoint, tooManyRequests(plan.throttleRetryAfterMs, "Too many requests"));
    }
    const decision = deps.limits.admit(caller.appId, endpoint);
    if (!decision.ok) {
      stats.throttle(endpoint);
      return finish(req, res, endpoint, tooManyRequests(decision.retryAfterMs, decision.message));
    }
    if (endpoint === "runliveresponse") stats.submitAdmitted();

    if (plan.latencyMs > 0) await sleep(plan.latencyMs);
    if (plan.failure && !plan.afterProcessing) return injectFailure(req, res, endpoint, plan.failure);

    const reply = await handle(deps, {
      endpoint,
      params: match.params,
      url,
      origin: requestOrigin(req),
      // Defender names the person who asked, when an app asked for one.
      requestor: user ? user.upn : caller.displayName,
      sees: (machineId) => {
        if (!user) return true;
        const machine = deps.engine.getMachine(machineId);
        return machine === undefined || userSeesGroup(user, machine.rbacGroupName);
      },
      body,
      contentType: req.headers["content-type"],
    });

    if (plan.failure) return injectFailure(req, res, endpoint, plan.failure);
    if (plan.malformed && reply.status >= 200 && reply.status < 300 && reply.body !== undefined) {
      stats.faultInjected("malformed");
      const text = JSON.stringify(reply.body);
      res.writeHead(reply.status, { "content-type": "application/json; charset=utf-8" });
      res.end(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
      logger.debug(
        { method: req.method, endpoint, status: reply.status },
        "simulator api call (malformed body)",
      );
      return;
    }
    finish(req, res, endpoint, reply);
  };

  function injectFailure(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    endpoint: EndpointName,
    failure: NonNullable<FaultPlan["failure"]>,
  ): void {
    if (failure.kind === "reset") {
      stats.faultInjected("resets");
      logger.debug({ method: req.method, endpoint, status: "reset" }, "simulator api call");
      req.socket.destroy();
      return;
    }
    stats.faultInjected("errors");
    const code = FAULT_ERROR_CODES[failure.status] ?? "InternalServerError";
    finish(
      req,
      res,
      endpoint,
      apiError(failure.status, code, "An injected fault: the service failed to answer"),
    );
  }
}

function tooManyRequests(retryAfterMs: number, message: string): JsonReply {
  return apiError(429, "TooManyRequests", message, {
    "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
    "x-ms-retry-after-ms": String(Math.max(1, Math.ceil(retryAfterMs))),
  });
}

async function handle(deps: ApiRouteDeps, call: CallContext): Promise<JsonReply> {
  const { engine } = deps;
  const id = call.params[0] ?? "";
  switch (call.endpoint) {
    case "runliveresponse": {
      if (!call.sees(id)) return machineNotFound(id);
      const parsed = parseJsonBody(call.body);
      if (!parsed.ok) return apiError(400, "InvalidRequestBody", "Request body is incorrect");
      const outcome = engine.submitLiveResponse(id, parsed.value, call.requestor);
      if (outcome.kind === "error") return fromEngineError(outcome.error);
      deps.stats.submitAccepted(
        outcome.action.machineId,
        outcome.action.requestorComment,
        outcome.kind === "created",
      );
      return entity(201, `${metadata(call)}MachineActions/$entity`, outcome.action);
    }
    case "getMachineAction": {
      const action = visibleAction(call, engine, id);
      return action ? entity(200, `${metadata(call)}MachineActions/$entity`, action) : actionNotFound(id);
    }
    case "listMachineActions":
      return collection(
        call,
        "MachineActions",
        engine.listActions().filter((a) => call.sees(a.machineId)),
        {
          ...ACTIONS_SPEC,
          pageSize: deps.pageSize,
        },
      );
    case "cancelMachineAction": {
      if (!visibleAction(call, engine, id)) return actionNotFound(id);
      const parsed = parseJsonBody(call.body);
      if (!parsed.ok) return apiError(400, "InvalidRequestBody", "Request body is incorrect");
      const outcome = engine.cancelAction(id, parsed.value, call.requestor);
      return outcome.kind === "ok"
        ? entity(200, `${metadata(call)}MachineActions/$entity`, outcome.action)
        : fromEngineError(outcome.error);
    }
    case "getResultDownloadLink": {
      const indexText = call.params[1] ?? "";
      if (!/^\d+$/.test(indexText)) {
        return apiError(400, "InvalidInput", `Invalid input index=${indexText}: expected a command index`);
      }
      const index = Number(indexText);
      if (!visibleAction(call, engine, id)) return actionNotFound(id);
      const content = engine.resultContent(id, index);
      if (content.kind === "error") return fromEngineError(content.error);
      return {
        status: 200,
        body: { "@odata.context": `${metadata(call)}Edm.String`, value: deps.blobLinks.mint(id, index) },
      };
    }
    case "listMachines":
      return collection(
        call,
        "Machines",
        engine.listMachines().filter((m) => call.sees(m.id)),
        {
          ...MACHINES_SPEC,
          pageSize: deps.pageSize,
        },
      );
    case "getMachine": {
      const machine = call.sees(id) ? engine.getMachine(id) : undefined;
      return machine ? entity(200, `${metadata(call)}Machines/$entity`, machine) : machineNotFound(id);
    }
    case "listLibraryFiles":
      return {
        status: 200,
        body: { "@odata.context": `${metadata(call)}LibraryFiles`, value: engine.listLibraryFiles() },
      };
    case "uploadLibraryFile": {
      const form = await readLibraryUploadForm(call.body, call.contentType);
      if (!form.ok) return fromEngineError(form.error);
      const outcome = engine.uploadLibraryFile(form.upload, form.overrideIfExists, call.requestor);
      return outcome.kind === "ok"
        ? entity(200, `${metadata(call)}LibraryFiles/$entity`, outcome.file)
        : fromEngineError(outcome.error);
    }
    case "deleteLibraryFile": {
      const outcome = engine.deleteLibraryFile(id);
      return outcome.kind === "ok" ? { status: 204 } : fromEngineError(outcome.error);
    }
  }
}

/** An action on a device the caller may not see is as unknown to them as the device. */
function visibleAction(call: CallContext, engine: ActionEngine, id: string) {
  const action = engine.getAction(id);
  return action && call.sees(action.machineId) ? action : undefined;
}

function machineNotFound(id: string): JsonReply {
  return apiError(404, "ResourceNotFound", `Machine ${id} was not found`);
}

function actionNotFound(id: string): JsonReply {
  return apiError(404, "ResourceNotFound", `Machine action ${id} was not found`);
}

function metadata(call: CallContext): string {
  return `${call.origin}/api/$metadata#`;
}

/** `https://{Host}` as the request named the host. */
function requestOrigin(req: http.IncomingMessage): string {
  return `https://${req.headers.host ?? "localhost"}`;
}

function entity(status: number, context: string, value: object): JsonReply {
  return { status, body: { "@odata.context": context, ...value } };
}

function fromEngineError(error: { status: number; code: string; message: string }): JsonReply {
  return apiError(error.status, error.code, error.message);
}

function collection<T extends Record<string, unknown>>(
  call: CallContext,
  set: string,
  items: readonly T[],
  spec: ODataCollectionSpec,
): JsonReply {
  let page;
  try {
    page = queryCollection(items, call.url.searchParams, spec);
  } catch (err) {
    if (err instanceof ODataQueryError) return apiError(400, err.code, err.message);
    throw err;
  }
  const wantsCount = [...call.url.searchParams].some(
    ([k, v]) => k.toLowerCase() === "$count" && v.toLowerCase() === "true",
  );
  const body: Record<string, unknown> = { "@odata.context": `${metadata(call)}${set}` };
  if (wantsCount) body["@odata.count"] = page.count;
  body.value = page.value;
  if (page.hasMore) body["@odata.nextLink"] = nextLink(call, page.nextSkip, page.nextTop);
  return { status: 200, body };
}

/** The same query with `$skip` moved on (and `$top` reduced), as a full URL on the host the client called. */
function nextLink(call: CallContext, nextSkip: number, nextTop: number | undefined): string {
  const pairs = [...call.url.searchParams].filter(([k]) => !["$skip", "$top"].includes(k.toLowerCase()));
  if (nextTop !== undefined) pairs.push(["$top", String(nextTop)]);
  pairs.push(["$skip", String(nextSkip)]);
  const query = pairs.map(([k, v]) => `${encodeQueryKey(k)}=${encodeURIComponent(v)}`).join("&");
  return `${call.origin}${call.url.pathname}?${query}`;
}

function encodeQueryKey(key: string): string {
  return key.startsWith("$") ? `$${encodeURIComponent(key.slice(1))}` : encodeURIComponent(key);
}
