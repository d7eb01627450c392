import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Agent, type Dispatcher } from "undici";
import type { Logger } from "../logger.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
  describeUrl,
} from "./errors.js";
import {
  DEFAULT_TIMEOUTS,
  USER_AGENT,
  limitBytes,
  releaseBody,
  type CaOption,
  type TransportTimeouts,
} from "./httpTransport.js";

/**
 * Downloads of result links (Azure blob SAS URLs). The link carries its own authorisation in the
 * query, so this path has its own undici Agent and never sees a token provider: a Defender token can
 * not leak to a storage host. Redirects are not followed, so the signed link goes only to the host it
 * names. Only host and path are ever logged or put in a message; the query is the secret.
 */

export interface BlobDownloadOptions {
  /** Stop and fail past this many bytes. */
  maxBytes: number;
  signal?: AbortSignal;
  ca?: CaOption;
  timeouts?: Partial<TransportTimeouts>;
  logger?: Logger;
}

const ENDPOINT = "downloadResultBlob";

/** The whole blob in memory: for RunScript transcripts, which are small. */
export async function downloadResultBlob(url: URL, options: BlobDownloadOptions): Promise<Buffer> {
  return withBlobBody(url, options, async (body) => {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    return Buffer.concat(chunks);
  });
}

/**
 * Streams the blob to `destPath` (via a temporary name in the same folder, renamed at the end, so a
 * file at `destPath` is always complete) and returns its size and SHA-256. Nothing is left behind on failure.
 */
export async function downloadResultBlobToFile(
  url: URL,
  destPath: string,
  options: BlobDownloadOptions,
): Promise<{ bytes: number; sha256: string }> {
  const partial = `${destPath}.${randomUUID()}.partial`;
  try {
    return await withBlobBody(url, options, async (body) => {
      const hash = createHash("sha256");
      let bytes = 0;
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            bytes += chunk.length;
            yield chunk;
          }
        },
        // Collected files are evidence and may be sensitive: readable by this user only.
        createWriteStream(partial, { flags: "wx", mode: 0o600 }),
      );
      await rename(partial, destPath);
      return { bytes, sha256: hash.digest("hex") };
    });
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

async function withBlobBody<T>(
  url: URL,
  options: BlobDownloadOptions,
  consume: (body: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  if (url.protocol !== "https:") {
    throw new InvalidInputError(
      "url",
      `a result link must use https: (got ${url.protocol}//${url.host}); it is not downloaded`,
    );
  }
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
    throw new InvalidInputError("maxBytes", "maxBytes must be a whole number of bytes");
  }
  const aborted = () => options.signal?.aborted ?? false;
  if (aborted()) throw DefenderNetworkError.from(undefined, ENDPOINT, { dispatched: false, aborted: true });

  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const agent = new Agent({
    connect: { timeout: timeouts.connectMs, ...(options.ca === undefined ? {} : { ca: options.ca }) },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyMs,
  });
  const started = performance.now();
  const where = describeUrl(url);
  try {
    let response: Dispatcher.ResponseData;
    try {
      response = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: "GET",
        headers: { "user-agent": USER_AGENT },
        signal: options.signal ?? null,
      });
    } catch (error) {
      throw DefenderNetworkError.from(error, ENDPOINT, { dispatched: true, aborted: aborted() });
    }
    options.logger?.debug(
      {
        endpoint: ENDPOINT,
        host: url.host,
        path: url.pathname,
        status: response.statusCode,
        durationMs: Math.round(performance.now() - started),
      },
      "result blob response",
    );
    try {
      const status = response.statusCode;
      if (status < 200 || status >= 300) throw storageError(status, response.headers, where);
      const tooLarge = () =>
        new DefenderResponseError({
          status,
          endpoint: ENDPOINT,
          reason: "too_large",
          detail: `the blob at ${where} is larger than the ${options.maxBytes}-byte limit; it was not kept`,
        });
      const declared = Number(response.headers["content-length"]);
      if (Number.isFinite(declared) && declared > options.maxBytes) throw tooLarge();
      return await consume(networkBody(response.body, options.maxBytes, tooLarge, aborted));
    } finally {
      await releaseBody(response.body);
    }
  } finally {
    await agent.destroy();
  }
}

/** The body, capped, with its network failures (reset, body timeout, abort) named like the request's own. */
async function* networkBody(
  body: Dispatcher.ResponseData["body"],
  maxBytes: number,
  tooLarge: () => DefenderResponseError,
  aborted: () => boolean,
): AsyncGenerator<Buffer> {
  try {
    yield* limitBytes(body, maxBytes, tooLarge);
  } catch (error) {
    if (error instanceof DefenderResponseError) throw error;
    throw DefenderNetworkError.from(error, ENDPOINT, { dispatched: true, aborted: aborted() });
  }
}

function storageError(
  status: number,
  headers: Dispatcher.ResponseData["headers"],
  where: string,
): DefenderApiError {
  const storageCode = typeof headers["x-ms-error-code"] === "string" ? headers["x-ms-error-code"] : undefined;
  if (status >= 300 && status < 400) {
    return new DefenderApiError({
      status,
      code: "UnexpectedRedirect",
      detail: `storage redirected the request for ${where}; redirects are not followed, so a result link only goes to the host it names`,
      endpoint: ENDPOINT,
    });
  }
  if (status === 403) {
    return new DefenderApiError({
      status,
      code: "LinkExpired",
      detail: `storage refused the result link for ${where}${storageCode ? ` (${storageCode})` : ""}; links expire after 30 minutes: request a new one with getLiveResponseResultDownloadLink and download again`,
      endpoint: ENDPOINT,
    });
  }
  return new DefenderApiError({
    status,
    code: storageCode ?? `HttpStatus${status}`,
    detail: `storage could not serve ${where}`,
    endpoint: ENDPOINT,
  });
}
