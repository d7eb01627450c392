import type { IncomingMessage } from "node:http";

export class BodyTooLargeError extends Error {
  readonly code = "BODY_TOO_LARGE";
  constructor(readonly limit: number) {
    super(`the request body is larger than ${limit} bytes`);
  }
}

export class BodyNotJsonError extends Error {
  readonly code = "BODY_NOT_JSON";
  constructor() {
    super("the request body is not JSON");
  }
}

/**
 * A request's JSON body, read up to `limit` bytes: a declared length over it is refused before a
 * byte is read, and a streamed body as soon as it passes it.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new BodyNotJsonError();
  }
}
