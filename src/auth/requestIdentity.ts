import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The user a piece of work acts for, carried by the async context instead of by every call: one
 * DefenderClient (one set of limiters: Defender's limits are the tenant's, not the user's) serves
 * every user, and its token provider asks here whose token a call needs. A tool call from a user
 * signed in with an Entra ID token runs inside `runAsUser`; everything else (stdio, API keys, apps)
 * runs with no user and gets the app's own token.
 *
 * The context follows the work it was set for, timers and promises included. So work that serves
 * everyone and is merely started by some call (a shared poller's loop) must start inside `runAsApp`,
 * or it would go on using the first caller's identity.
 */
export interface RequestIdentity {
  /** The user's access token for this server: the On-Behalf-Of assertion. Never sent to Defender. */
  assertion: string;
  /** Who, for logs (the user's UPN). */
  principal: string;
}

const storage = new AsyncLocalStorage<RequestIdentity>();

/** Runs `fn` acting for `identity`; with undefined, as the app. */
export function runAsUser<T>(identity: RequestIdentity | undefined, fn: () => T): T {
  return identity === undefined ? storage.exit(fn) : storage.run(identity, fn);
}

/** Runs `fn`, and all it starts, as the app, whoever's work started it. */
export function runAsApp<T>(fn: () => T): T {
  return storage.exit(fn);
}

/** The user the current work acts for; undefined when it acts as the app. */
export function currentUser(): RequestIdentity | undefined {
  return storage.getStore();
}
