import type { DefenderClient } from "../defender/defenderClient.js";

/** The API's result links last 30 minutes (reference §3, GetLiveResponseResultDownloadLink). */
export const RESULT_LINK_LIFETIME_MS = 30 * 60_000;
/** A link this close to its end is not handed out: a large download must not outlive it. */
export const RESULT_LINK_MARGIN_MS = 5 * 60_000;

export interface ResultLinksOptions {
  client: DefenderClient;
  /** How long a link lasts when its `se` cannot be read, and the margin kept before its end; both scaled. */
  lifetimeMs: number;
  marginMs: number;
}

interface CachedLink {
  url: URL;
  /** Date.now() past which the link is not used. */
  usableUntil: number;
}

/**
 * Each command's result link, asked for once and reused until it nears its end, so a download retried
 * after a storage hiccup, or fetched again by a later call, costs no read. The end is the SAS `se`
 * when the link has one, else the documented lifetime from when it was given.
 */
export class ResultLinks {
  private readonly links = new Map<string, CachedLink>();

  constructor(private readonly options: ResultLinksOptions) {}

  async get(actionId: string, index: number): Promise<URL> {
    const key = `${actionId.toLowerCase()}#${index}`;
    const cached = this.links.get(key);
    if (cached !== undefined && Date.now() < cached.usableUntil) return cached.url;
    const askedAt = Date.now();
    const link = await this.options.client.getLiveResponseResultDownloadLink(actionId, index);
    const { url } = link;
    const end = Math.min(askedAt + this.options.lifetimeMs, link.expiresAt?.getTime() ?? Infinity);
    this.links.set(key, { url, usableUntil: end - this.options.marginMs });
    return url;
  }

  /** The link was refused as expired: the next `get` asks for a new one. */
  drop(actionId: string, index: number): void {
    this.links.delete(`${actionId.toLowerCase()}#${index}`);
  }

  /** The result is fetched for good: its link is no longer needed. */
  done(actionId: string, index: number): void {
    this.drop(actionId, index);
  }
}
