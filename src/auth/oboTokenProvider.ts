import { currentUser } from "./requestIdentity.js";
import type { MsalTokenProvider } from "./msalTokenProvider.js";
import type { TokenProvider, TokenRequestOptions } from "./tokenProvider.js";

/**
 * Defender tokens for whoever the current work acts for (see requestIdentity): On-Behalf-Of the
 * user when there is one, so Defender's RBAC and delegated permissions apply to that person; the
 * app's own token otherwise. Both come from the one confidential client application, against the
 * app's authority: MSAL caches each user's token under the hash of their assertion, and renews it
 * when the user's next call brings a new one.
 */
export class OnBehalfOfTokenProvider implements TokenProvider {
  readonly description: string;

  constructor(private readonly app: MsalTokenProvider) {
    this.description = `${app.description}; On-Behalf-Of the signed-in user for their tool calls`;
  }

  getToken(options: TokenRequestOptions = {}): Promise<string> {
    const user = currentUser();
    return user === undefined
      ? this.app.getToken(options)
      : this.app.getTokenOnBehalfOf(user.assertion, options);
  }
}
