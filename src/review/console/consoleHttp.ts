import type { IncomingMessage, ServerResponse } from "node:http";

/** Nothing but this server's own files: no inline script or style, no framing, no foreign fetch. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const SESSION_COOKIE = "mde_review_session";

/** Headers every console answer carries. */
export function securityHeaders(res: ServerResponse): void {
  res.setHeader("content-security-policy", CONTENT_SECURITY_POLICY);
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("x-frame-options", "DENY");
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
    .end(JSON.stringify(body));
}

export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: code, message });
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, "cache-control": "no-store" }).end();
}

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

/** The request came over TLS, directly or through a proxy that says so. */
function overTls(req: IncomingMessage): boolean {
  const forwarded = req.headers["x-forwarded-proto"];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
  return ("encrypted" in req.socket && req.socket.encrypted === true) || proto === "https";
}

export function sessionCookie(req: IncomingMessage, id: string, maxAgeSeconds: number): string {
  const secure = overTls(req) ? "; Secure" : "";
  return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/review; Max-Age=${maxAgeSeconds}${secure}`;
}

export function clearedCookie(req: IncomingMessage): string {
  return sessionCookie(req, "", 0);
}

/**
 * A state-changing request must come from a page of this very server: its Origin names the Host it
 * was sent to, or Sec-Fetch-Site (set by the browser, never by a page) says same-origin. The
 * console's pages send `Origin: null` with their POSTs (Referrer-Policy: no-referrer), so that
 * header alone cannot be relied on. Allowed foreign origins of the MCP endpoint do not count here.
 */
export function fromSameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host?.toLowerCase();
  if (origin !== undefined && origin !== "null") {
    if (!URL.canParse(origin) || host === undefined) return false;
    return new URL(origin).host === host;
  }
  return req.headers["sec-fetch-site"] === "same-origin";
}

/** A small body (a form or a JSON decision), refused beyond `limit` bytes. */
export async function readSmallBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
