import { dirname, join } from "node:path";
import type { TokenProviderSettings } from "../../auth/createTokenProvider.js";
import type { Settings } from "../../config/settings.js";
import type { LiveResponseApi } from "../../liveResponse/types.js";
import type { Logger } from "../../logger.js";
import type { AuditTrail } from "../../safety/auditTrail.js";
import type { PolicySource } from "../../tools/toolDeps.js";
import type { ApprovalStore } from "../approvalStore.js";
import { ReviewConsole, type ExternalSignIn } from "./reviewConsole.js";
import { createEntraReviewerSignIn } from "../entraSignIn.js";
import { ENTRA_SIGNIN_PATH, entraSignInConfigFrom } from "../entraSignInConfig.js";
import { handleEntraSignIn } from "../entraSignInRoutes.js";
import { loadReviewerKeys } from "./reviewerKeys.js";

/** The console is served over HTTP (at /review) or, over stdio, when a review port is set. */
export function reviewConsoleWanted(settings: Settings): boolean {
  return settings.MDE_TRANSPORT === "http" || settings.MDE_REVIEW_PORT !== undefined;
}

/** MDE_REVIEW_STORE, else review-approvals.json beside the audit log, else memory only (with a warning). */
export function reviewStoreFile(settings: Settings, logger: Logger): string | undefined {
  if (settings.MDE_REVIEW_STORE !== undefined) return settings.MDE_REVIEW_STORE;
  if (settings.MDE_AUDIT_LOG !== undefined)
    return join(dirname(settings.MDE_AUDIT_LOG), "review-approvals.json");
  logger.warn(
    "the review console keeps pending approvals in memory only (set MDE_REVIEW_STORE or MDE_AUDIT_LOG): a restart forgets them",
  );
  return undefined;
}

export interface ReviewConsoleParts {
  store: ApprovalStore;
  audit: AuditTrail;
  policy: PolicySource;
  liveResponse: LiveResponseApi;
  logger: Logger;
  /** The app's own credential, which redeems reviewers' Entra ID sign-in codes (MDE_REVIEW_ENTRA). */
  tokenSettings: TokenProviderSettings;
}

/** Entra ID sign-in for reviewers (MDE_REVIEW_ENTRA), as the console's external sign-in. */
async function entraSignIn(
  settings: Settings,
  tokenSettings: TokenProviderSettings,
  logger: Logger,
): Promise<ExternalSignIn | undefined> {
  const config = entraSignInConfigFrom(settings);
  if (config === undefined) return undefined;
  const signIn = await createEntraReviewerSignIn({ config, tokenSettings, logger });
  return {
    label: "Sign in with Entra ID",
    path: ENTRA_SIGNIN_PATH,
    handle: (req, res, openSession) =>
      handleEntraSignIn(req, res, signIn, ({ reviewer }) => openSession(reviewer)),
    close: () => signIn.close(),
  };
}

export async function createReviewConsole(
  settings: Settings,
  { tokenSettings, ...parts }: ReviewConsoleParts,
): Promise<ReviewConsole> {
  const reviewerKeys =
    settings.MDE_REVIEW_KEYS_FILE === undefined
      ? undefined
      : await loadReviewerKeys(settings.MDE_REVIEW_KEYS_FILE);
  return ReviewConsole.create({
    ...parts,
    auditLogPath: settings.MDE_AUDIT_LOG,
    reviewerKeys,
    externalSignIn: await entraSignIn(settings, tokenSettings, parts.logger),
    timeScale: settings.MDE_TIME_SCALE,
  });
}

/**
 * Prints a one-time sign-in link to stderr, for the person who started the server: never through
 * the log, which may be shipped elsewhere.
 */
export function printSignInLink(reviewConsole: ReviewConsole, origin: string): void {
  const minutes = Number(reviewConsole.linkMinutes.toPrecision(2));
  process.stderr.write(
    `Review console: ${origin}/review\nSign in with this link (single use, valid ${minutes} min): ${reviewConsole.signInLink(origin)}\n`,
  );
}
