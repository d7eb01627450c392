import { Agent, request, type Dispatcher } from "undici";

/** Discovery documents and key sets are a few kB; anything larger is not one. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const TIMEOUT_MS = 10_000;

export interface IssuerResponse {
  status: number;
  text: string;
}

/** GETs of the authority's public documents (OpenID configuration, signing keys); redirects are not followed. */
export type IssuerGet = (url: string, signal?: AbortSignal) => Promise<IssuerResponse>;

/** `ca`: an extra CA (PEM) the authority's certificate chains to, e.g. the simulator's. */
export function issuerGet(ca?: string): { get: IssuerGet; close(): Promise<void> } {
  const dispatcher: Dispatcher = new Agent({
    connect: { timeout: TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) },
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  });
  return {
    async get(url, signal) {
      const res = await request(url, {
        method: "GET",
        dispatcher,
        signal: signal ?? null,
        headers: { accept: "application/json" },
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_DOCUMENT_BYTES) {
          res.body.destroy();
          throw new Error(`${new URL(url).origin} answered more than ${MAX_DOCUMENT_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
      return { status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") };
    },
    close: () => dispatcher.close(),
  };
}
