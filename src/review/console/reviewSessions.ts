import { randomBytes, timingSafeEqual } from "node:crypto";
import { scaleMs } from "../../config/time.js";

/** A one-time sign-in link is good for this long (scaled like every server duration). */
const SIGN_IN_LINK_MS = 10 * 60_000;
/** A reviewer's session lasts a working day; they sign in again after it. */
const SESSION_MS = 8 * 60 * 60_000;

/** The name a one-time sign-in link gives its reviewer: whoever can read the server's stderr. */
export const LOCAL_REVIEWER = "local reviewer";

export interface ReviewSession {
  id: string;
  reviewer: string;
  /** Sent back in X-CSRF-Token with every state-changing request. */
  csrfToken: string;
  expiresAt: number;
}

export interface ReviewSessionsOptions {
  timeScale: number;
  now?: () => number;
}

const randomToken = (): string => randomBytes(32).toString("base64url");

/**
 * The console's sign-ins: one-time links (random, single use, short-lived) and server-side sessions
 * (a random id in an HttpOnly cookie; nothing about the reviewer lives in the browser).
 */
export class ReviewSessions {
  private readonly links = new Map<string, number>();
  private readonly sessions = new Map<string, ReviewSession>();
  private readonly now: () => number;

  constructor(private readonly options: ReviewSessionsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Real minutes a sign-in link is valid (10, divided by the time scale). */
  get linkMinutes(): number {
    return scaleMs(SIGN_IN_LINK_MS, this.options.timeScale) / 60_000;
  }

  /** A new one-time sign-in token; `consumeLink` takes it once, before it expires. */
  issueLink(): string {
    const token = randomToken();
    this.links.set(token, this.now() + scaleMs(SIGN_IN_LINK_MS, this.options.timeScale));
    return token;
  }

  /** True once for a valid unexpired token; the token is gone afterwards, whatever the answer. */
  consumeLink(token: string): boolean {
    this.prune();
    const expiresAt = this.links.get(token);
    this.links.delete(token);
    return expiresAt !== undefined && expiresAt > this.now();
  }

  open(reviewer: string): ReviewSession {
    this.prune();
    const session: ReviewSession = {
      id: randomToken(),
      reviewer,
      csrfToken: randomToken(),
      expiresAt: this.now() + scaleMs(SESSION_MS, this.options.timeScale),
    };
    this.sessions.set(session.id, session);
    return session;
  }

  find(id: string | undefined): ReviewSession | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  close(id: string): void {
    this.sessions.delete(id);
  }

  /** Seconds the session has left, for the cookie's Max-Age. */
  secondsLeft(session: ReviewSession): number {
    return Math.max(1, Math.floor((session.expiresAt - this.now()) / 1000));
  }

  private prune(): void {
    const now = this.now();
    for (const [token, expiresAt] of this.links) if (expiresAt <= now) this.links.delete(token);
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

/** Compares a presented CSRF token with the session's in constant time. */
export function csrfMatches(session: ReviewSession, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(session.csrfToken, "utf8");
  const b = Buffer.from(presented, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
