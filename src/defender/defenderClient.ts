import type { z } from "zod";
import { assertComment, assertLiveResponseCommands, effectiveArgs } from "./commandRules.js";
import { DefenderResponseError, InvalidInputError, type DefenderEndpoint } from "./errors.js";
import { HttpTransport, type Admission, type HttpTransportOptions } from "./httpTransport.js";
import { assertActionId, assertCommandIndex, assertMachineId } from "./ids.js";
import { filter, toSearchParams, type ODataQueryOptions } from "./odataQuery.js";
import {
  LibraryFileCollectionSchema,
  MachineActionCollectionSchema,
  MachineActionSchema,
  MachineCollectionSchema,
  MachineSchema,
  ResultLinkSchema,
  type LibraryFile,
  type Machine,
  type MachineAction,
} from "./schemas.js";

/** The client's options are its transport's: base URL, token provider, CA, timeouts, retry policy. */
export type DefenderClientOptions = HttpTransportOptions;

export interface CallOptions {
  signal?: AbortSignal;
}

/** A live response command as the caller thinks of it; the client writes the wire form. */
export type LiveResponseCommand =
  | { type: "PutFile"; fileName: string }
  | { type: "RunScript"; scriptName: string; args?: string }
  | { type: "GetFile"; path: string };

export interface RunLiveResponseRequest {
  commands: LiveResponseCommand[];
  /** Stored as `requestorComment`; carry a correlation tag here to find the action again. */
  comment: string;
}

export type ListQuery = ODataQueryOptions & {
  /** Pages to read by following `@odata.nextLink` (each page is one call from the read budget). */
  maxPages?: number;
};

export interface ListResult<T> {
  items: T[];
  /** `@odata.count` of the first page, when the API sent one. */
  count: number | undefined;
  /** False when more pages exist than were read (page limit, or a next link this client will not follow). */
  complete: boolean;
}

export interface ResultDownloadLink {
  /** A SAS URL: a secret until it expires. Never log it; give it only to `downloadResultBlob`. */
  url: URL;
  /** From the link's `se` parameter, when present and readable. */
  expiresAt?: Date;
}

/** What `list` needs of any `odataCollectionSchema(...)` output. */
type CollectionPage<Item> = {
  value: Item[];
  "@odata.nextLink"?: string | undefined;
  "@odata.count"?: number | undefined;
};

const DEFAULT_MAX_PAGES = 10;

/**
 * The Defender for Endpoint API as typed functions. Ids and commands are checked before any call,
 * reads are retried by the retry policy, and the two POSTs with effects (submit, cancel) are sent
 * again only after a 429 (which refused them unexecuted); any other failure is handed back, and
 * `submitOutcome(error)` says whether the action may exist.
 */
export class DefenderClient {
  private readonly http: HttpTransport;

  constructor(options: DefenderClientOptions) {
    this.http = new HttpTransport(options);
  }
  /** The limiters every call of this client goes through (settings and counts, for metrics and tests). */
  get limiters(): HttpTransport["limiters"] {
    return this.http.limiters;
  }

  /** Starts a live response action. Any 2xx is success; the returned action may be an existing one (§9.16). */
  async runLiveResponse(
    machineId: string,
    request: RunLiveResponseRequest,
    options: CallOptions & { admission?: Admission } = {},
  ): Promise<MachineAction> {
    const id = assertMachineId(machineId);
    const body = { Commands: wireCommands(request.commands), Comment: assertComment(request.comment) };
    return this.http.request({
      endpoint: "runLiveResponse",
      method: "POST",
      url: this.http.url(`/api/machines/${id}/runliveresponse`),
      body,
      schema: MachineActionSchema,
      retry: "never",
      signal: options.signal,
      admission: options.admission,
    });
  }

  async getMachineAction(actionId: string, options: CallOptions = {}): Promise<MachineAction> {
    const id = assertActionId(actionId);
    return this.http.request({
      endpoint: "getMachineAction",
      method: "GET",
      url: this.http.url(`/api/machineactions/${id}`),
      schema: MachineActionSchema,
      retry: "read",
      signal: options.signal,
    });
  }

  async listMachineActions(
    query: ListQuery = {},
    options: CallOptions = {},
  ): Promise<ListResult<MachineAction>> {
    return this.list(
      "listMachineActions",
      "/api/machineactions",
      MachineActionCollectionSchema,
      query,
      options,
    );
  }

  /** Cancels a Pending or InProgress action; the API answers 400 for one that is already final. */
  async cancelMachineAction(
    actionId: string,
    comment: string,
    options: CallOptions = {},
  ): Promise<MachineAction> {
    const id = assertActionId(actionId);
    return this.http.request({
      endpoint: "cancelMachineAction",
      method: "POST",
      url: this.http.url(`/api/machineactions/${id}/cancel`),
      body: { Comment: assertComment(comment) },
      schema: MachineActionSchema,
      retry: "never",
      signal: options.signal,
    });
  }

  /** A fresh SAS link (valid about 30 minutes) to the output of command `index`. */
  async getLiveResponseResultDownloadLink(
    actionId: string,
    index: number,
    options: CallOptions = {},
  ): Promise<ResultDownloadLink> {
    const id = assertActionId(actionId);
    const i = assertCommandIndex(index);
    const endpoint: DefenderEndpoint = "getLiveResponseResultDownloadLink";
    const link = await this.http.request({
      endpoint,
      method: "GET",
      url: this.http.url(`/api/machineactions/${id}/GetLiveResponseResultDownloadLink(index=${i})`),
      schema: ResultLinkSchema,
      retry: "read",
      signal: options.signal,
    });
    let url: URL;
    try {
      url = new URL(link.value);
    } catch {
      throw new DefenderResponseError({
        status: 200,
        endpoint,
        reason: "bad_link",
        detail: "the link is not an absolute URL",
      });
    }
    const se = Date.parse(url.searchParams.get("se") ?? "");
    return Number.isNaN(se) ? { url } : { url, expiresAt: new Date(se) };
  }

  async listMachines(query: ListQuery = {}, options: CallOptions = {}): Promise<ListResult<Machine>> {
    return this.list("listMachines", "/api/machines", MachineCollectionSchema, query, options);
  }

  async getMachine(machineId: string, options: CallOptions = {}): Promise<Machine> {
    const id = assertMachineId(machineId);
    return this.http.request({
      endpoint: "getMachine",
      method: "GET",
      url: this.http.url(`/api/machines/${id}`),
      schema: MachineSchema,
      retry: "read",
      signal: options.signal,
    });
  }

  async listLibraryFiles(options: CallOptions = {}): Promise<ListResult<LibraryFile>> {
    return this.list("listLibraryFiles", "/api/libraryfiles", LibraryFileCollectionSchema, {}, options);
  }

  /**
   * The live response actions on a device since `since` whose comment contains `tag`: how a submit
   * with an unknown outcome is resolved without sending it again.
   */
  async findLiveResponseActionsByComment(
    machineId: string,
    tag: string,
    since: Date,
    options: CallOptions = {},
  ): Promise<MachineAction[]> {
    const id = assertMachineId(machineId);
    if (typeof tag !== "string" || tag.length === 0) {
      throw new InvalidInputError(
        "tag",
        "tag must be a non-empty string (the correlation tag put in the comment)",
      );
    }
    if (!(since instanceof Date) || Number.isNaN(since.getTime())) {
      throw new InvalidInputError("since", "since must be a valid Date");
    }
    const { items } = await this.listMachineActions(
      {
        filter: filter.and(
          filter.eq("machineId", id),
          filter.eq("type", "LiveResponse"),
          filter.ge("creationDateTimeUtc", since),
        ),
      },
      options,
    );
    return items.filter((a) => a.requestorComment?.includes(tag) && a.machineId?.toLowerCase() === id);
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async list<Item>(
    endpoint: DefenderEndpoint,
    path: string,
    schema: z.ZodType<CollectionPage<Item>>,
    query: ListQuery,
    options: CallOptions,
  ): Promise<ListResult<Item>> {
    const { maxPages = DEFAULT_MAX_PAGES, ...odata } = query;
    if (!Number.isSafeInteger(maxPages) || maxPages < 1) {
      throw new InvalidInputError(
        "maxPages",
        `maxPages must be a whole number from 1; got ${String(maxPages)}`,
      );
    }
    const items: Item[] = [];
    let count: number | undefined;
    let url: URL | undefined = this.http.url(path, toSearchParams(odata));
    for (let page = 1; url !== undefined; page++) {
      const body = await this.http.request({
        endpoint,
        method: "GET",
        url,
        schema,
        retry: "read",
        signal: options.signal,
      });
      items.push(...body.value);
      if (page === 1) count = body["@odata.count"];
      // `$top` is a total. A server that still links past it would only spend read budget.
      if (odata.top !== undefined && items.length >= odata.top) {
        return { items: items.slice(0, odata.top), count, complete: true };
      }
      const next = body["@odata.nextLink"];
      if (next === undefined) return { items, count, complete: true };
      if (page >= maxPages) return { items, count, complete: false };
      url = this.followable(endpoint, next);
    }
    return { items, count, complete: false };
  }

  /** A next link is followed only to the API's own origin: the bearer token must not go anywhere else. */
  private followable(endpoint: DefenderEndpoint, nextLink: string): URL | undefined {
    let next: URL | undefined;
    try {
      next = new URL(nextLink, this.http.apiBaseUrl);
    } catch {
      next = undefined;
    }
    if (next?.origin === this.http.apiBaseUrl.origin) return next;
    this.http.logger.warn(
      { endpoint, nextLinkHost: next?.host ?? "(unparseable)" },
      "not following an @odata.nextLink to another origin; the list is incomplete",
    );
    return undefined;
  }
}

/** The exact wire form of reference §3.1: lower-case `type`/`params`/`key`/`value`, Args only when not blank. */
function wireCommands(
  commands: unknown,
): Array<{ type: string; params: Array<{ key: string; value: string }> }> {
  assertLiveResponseCommands(commands);
  return commands.map((command) => {
    switch (command.type) {
      case "PutFile":
        return { type: "PutFile", params: [{ key: "FileName", value: command.fileName }] };
      case "RunScript": {
        const params = [{ key: "ScriptName", value: command.scriptName }];
        const args = effectiveArgs(command.args);
        if (args !== undefined) params.push({ key: "Args", value: args });
        return { type: "RunScript", params };
      }
      case "GetFile":
        return { type: "GetFile", params: [{ key: "Path", value: command.path }] };
    }
  });
}
