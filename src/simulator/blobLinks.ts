import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { scaleMs } from "../config/time.js";
import { writeText } from "./httpUtil.js";
import type { SimClock } from "./simClock.js";

/**
 * Result download links shaped like the Azure blob SAS URLs the API hands out (reference §3.4): a
 * container path, `se` expiry and a signature over path and expiry with a key that lives only as long
 * as this simulator. The blob host takes no bearer token: a request that carries one is refused and
 * counted, because a client that sends its Defender token to a storage host leaks it.
 */
const CONTAINER = "/investigation-actions-data/";
const LINK_LIFETIME_MS = 30 * 60 * 1000;
const SAS_VERSION = "2019-07-07";
const LINK_PATH = /^\/investigation-actions-data\/([^/]+)\/CustomPlaybookCommandOutput\/(\d+)-[0-9a-f]+$/;

export function isBlobPath(pathname: string): boolean {
  return pathname.startsWith(CONTAINER);
}

export type BlobVerdict =
  | { ok: true; actionId: string; index: number }
  | { ok: false; status: number; code: string; message: string; detail?: string };

export interface BlobLinksOptions {
  /** `https://host:port` the links name. */
  origin: () => string;
  timeScale: number;
  clock: SimClock;
}

export class BlobLinks {
  private readonly key = randomBytes(32);

  constructor(private readonly options: BlobLinksOptions) {}

  /** A new link on every call, valid for 30 minutes (scaled), with `se` to the second like Azure's. */
  mint(actionId: string, index: number): string {
    const path = `${CONTAINER}${encodeURIComponent(actionId)}/CustomPlaybookCommandOutput/${index}-${randomBytes(16).toString("hex")}`;
    const expiresAt = this.options.clock.now() + scaleMs(LINK_LIFETIME_MS, this.options.timeScale);
    const se = new Date(Math.ceil(expiresAt / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const query = new URLSearchParams({ se, sp: "r", sv: SAS_VERSION, sr: "b", sig: this.sign(path, se) });
    return `${this.options.origin()}${path}?${query.toString()}`;
  }

  verify(url: URL): BlobVerdict {
    const q = url.searchParams;
    const se = q.get("se");
    const sig = q.get("sig");
    const match = LINK_PATH.exec(url.pathname);
    if (
      !match ||
      se === null ||
      sig === null ||
      q.get("sp") !== "r" ||
      q.get("sr") !== "b" ||
      q.get("sv") !== SAS_VERSION
    ) {
      return authenticationFailed("Signature fields not well formed.");
    }
    const expected = Buffer.from(this.sign(url.pathname, se));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return authenticationFailed("Signature did not match.");
    }
    const expiry = Date.parse(se);
    const now = this.options.clock.now();
    if (!(expiry > now)) {
      return authenticationFailed(
        `Signature not valid in the specified time frame: Expiry [${new Date(expiry).toUTCString()}] - Current [${new Date(now).toUTCString()}]`,
      );
    }
    return { ok: true, actionId: decodeURIComponent(match[1] ?? ""), index: Number(match[2]) };
  }

  private sign(path: string, se: string): string {
    return createHmac("sha256", this.key).update(`${path}\n${se}`).digest("base64");
  }
}

function authenticationFailed(detail: string): BlobVerdict {
  return {
    ok: false,
    status: 403,
    code: "AuthenticationFailed",
    message:
      "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
    detail,
  };
}

export type BlobContent = { kind: "ok"; body: Buffer; contentType: string } | { kind: "error" };

export interface BlobRouteDeps {
  links: BlobLinks;
  content: (actionId: string, index: number) => BlobContent;
  onAuthorizationHeader: () => void;
  /** An injected storage failure for this download (see Faults.blobErrorRate). */
  failNow: () => boolean;
}

/** Serves GET on a link; answers like Azure Storage, with XML errors. Returns the status sent. */
export function serveBlob(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  deps: BlobRouteDeps,
): number {
  if (req.headers.authorization !== undefined) {
    deps.onAuthorizationHeader();
    return writeStorageError(res, {
      status: 400,
      code: "InvalidAuthenticationInfo",
      message:
        "Authentication information is not given in the correct format. Check the value of Authorization header.",
    });
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return writeStorageError(res, {
      status: 403,
      code: "AuthorizationPermissionMismatch",
      message: "This request is not authorized to perform this operation using this permission.",
    });
  }
  const verdict = deps.links.verify(url);
  if (!verdict.ok) return writeStorageError(res, verdict);
  if (deps.failNow()) {
    return writeStorageError(res, {
      status: 503,
      code: "ServerBusy",
      message: "The server is currently unable to receive requests. Please retry your request.",
    });
  }
  const content = deps.content(verdict.actionId, verdict.index);
  if (content.kind !== "ok") {
    return writeStorageError(res, {
      status: 404,
      code: "BlobNotFound",
      message: "The specified blob does not exist.",
    });
  }
  writeText(res, 200, content.body, content.contentType, {
    ...storageHeaders(randomUUID()),
    "x-ms-blob-type": "BlockBlob",
  });
  return 200;
}

function writeStorageError(
  res: http.ServerResponse,
  e: { status: number; code: string; message: string; detail?: string },
): number {
  const requestId = randomUUID();
  const detail =
    e.detail === undefined
      ? ""
      : `<AuthenticationErrorDetail>${xmlEscape(e.detail)}</AuthenticationErrorDetail>`;
  const xml =
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${e.code}</Code>` +
    `<Message>${xmlEscape(e.message)}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message>${detail}</Error>`;
  writeText(res, e.status, xml, "application/xml", {
    ...storageHeaders(requestId),
    "x-ms-error-code": e.code,
  });
  return e.status;
}

function storageHeaders(requestId: string): Record<string, string> {
  return { "x-ms-request-id": requestId, "x-ms-version": SAS_VERSION };
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
