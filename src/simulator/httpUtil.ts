import { randomUUID } from "node:crypto";
import type http from "node:http";

/**
 * Small HTTP helpers shared by the simulator's routes. Handlers return a JsonReply instead of writing
 * to the response, so fault injection can replace or break the answer after the work was done.
 */
export interface JsonReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The API's error shape (reference §2.1); `target` is a fresh correlation id, never a field name. */
export function apiError(
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): JsonReply {
  return {
    status,
    body: { error: { code, message, target: randomUUID() } },
    ...(headers ? { headers } : {}),
  };
}

export function writeJson(res: http.ServerResponse, reply: JsonReply): void {
  const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
  writeText(res, reply.status, text, "application/json; charset=utf-8", reply.headers);
}

export function writeText(
  res: http.ServerResponse,
  status: number,
  body: string | Buffer,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  const payload = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, {
    ...headers,
    ...(payload.length > 0 || status !== 204 ? { "content-type": contentType } : {}),
    "content-length": String(payload.length),
  });
  res.end(payload);
}

export class BodyTooLargeError extends Error {
  readonly code = "BODY_TOO_LARGE";
  constructor(readonly maxBytes: number) {
    super(`request body exceeds ${maxBytes} bytes`);
  }
}

/**
 * Reads the whole body, up to `maxBytes`. A larger body is drained (not kept) before rejecting, so the
 * client still gets an answer instead of a broken pipe.
 */
export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on("end", () =>
      size > maxBytes ? reject(new BodyTooLargeError(maxBytes)) : resolve(Buffer.concat(chunks)),
    );
    req.on("error", reject);
  });
}

export type JsonBody = { ok: true; value: unknown } | { ok: false };

/** An empty body parses to `undefined`, so handlers can say which field is missing. */
export function parseJsonBody(body: Buffer): JsonBody {
  const text = body.toString("utf8");
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
