import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { AuditLogError } from "../../audit/auditError.js";
import type { ApiKeyStore } from "../../http/apiKeys.js";
import type { LiveResponseApi } from "../../liveResponse/types.js";
import type { Logger } from "../../logger.js";
import type { AuditTrail } from "../../safety/auditTrail.js";
import type { PolicySource } from "../../tools/toolDeps.js";
import type { ApprovalStore } from "../approvalStore.js";
import { decideReview } from "../reviewDecision.js";
import { ReviewError } from "../reviewError.js";
import { isAssetName, loadAssets, type Asset, type AssetName } from "./consoleAssets.js";
import { ConsoleEvents } from "./consoleEvents.js";
import {
  clearedCookie,
  cookieValue,
  fromSameOrigin,
  readSmallBody,
  redirect,
  securityHeaders,
  sendError,
  sendJson,
  SESSION_COOKIE,
  sessionCookie,
} from "./consoleHttp.js";
import { readHistory } from "./reviewHistory.js";
import { csrfMatches, LOCAL_REVIEWER, ReviewSessions, type ReviewSession } from "./reviewSessions.js";
import { requestViews } from "./requestView.js";

export const REVIEW_PATH = "/review";

/** A decision or a sign-in form is a few hundred bytes. */
const MAX_BODY_BYTES = 16 * 1024;
/** Script output shown in the console at most; the agent pages through the rest with get_action. */
const MAX_OUTPUT_CHARS = 20_000;

const DecisionBodySchema = z.strictObject({
  approve: z.boolean(),
  reason: z.string().trim().min(1, "give a reason for the decision").max(2000),
  payload_sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** Each refusal of a decision, said the way a reviewer can act on it. */
const REVIEW_ERRORS: Record<ReviewError["code"], { status: number; message: string }> = {
  NOT_FOUND: { status: 404, message: "This request does not exist on this server." },
  EXPIRED: {
    status: 409,
    message:
      "This request expired before a decision: it can no longer be approved; the agent must ask again.",
  },
  NOT_PENDING: { status: 409, message: "This request was already decided or withdrawn." },
  PAYLOAD_MISMATCH: {
    status: 409,
    message: "The request changed since the page showed it (payload SHA-256 differs): review it again.",
  },
  SAME_PERSON: {
    status: 403,
    message: "Two-person rule: you asked for this request yourself, so another reviewer must approve it.",
  },
};

/**
 * A sign-in the console does not run itself (Entra ID): its routes under /review/signin/, and the link
 * the sign-in page shows. `handle` answers the request and returns true when it is one of its routes,
 * calling `openSession` with the reviewer's name once they are signed in (it returns the session's
 * Set-Cookie value).
 */
export interface ExternalSignIn {
  label: string;
  path: string;
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    openSession: (reviewer: string) => string,
  ): Promise<boolean>;
  close(): Promise<void>;
}

export interface ReviewConsoleOptions {
  store: ApprovalStore;
  audit: AuditTrail;
  policy: PolicySource;
  liveResponse: LiveResponseApi;
  /** MDE_AUDIT_LOG, read for the history; undefined: no history. */
  auditLogPath: string | undefined;
  /** MDE_REVIEW_KEYS_FILE; undefined: only one-time sign-in links open the console. */
  reviewerKeys: ApiKeyStore | undefined;
  /** Another way to sign in (Entra ID), offered on the sign-in page as a link. */
  externalSignIn?: ExternalSignIn | undefined;
  timeScale: number;
  logger: Logger;
}

/**
 * The review console: a page and its JSON API under /review, where reviewers sign in (their own
 * keys or a one-time link; the MCP endpoint's keys and tokens do not open it), see the requests
 * waiting, decide on them (CSRF token and same origin required, the decision bound to the payload
 * hash shown), and follow outcomes from the audit log, live over server-sent events.
 */
export class ReviewConsole {
  private readonly sessions: ReviewSessions;
  private readonly events: ConsoleEvents;
  private closed = false;

  private constructor(
    private readonly options: ReviewConsoleOptions,
    private readonly assets: Map<AssetName, Asset>,
  ) {
    this.sessions = new ReviewSessions({ timeScale: options.timeScale });
    this.events = new ConsoleEvents({ store: options.store, auditLogPath: options.auditLogPath });
  }

  static async create(options: ReviewConsoleOptions): Promise<ReviewConsole> {
    return new ReviewConsole(options, await loadAssets());
  }

  get store(): ApprovalStore {
    return this.options.store;
  }

  get hasReviewerKeys(): boolean {
    return this.options.reviewerKeys !== undefined;
  }

  /** A new one-time sign-in link (its reviewer is "local reviewer"); `origin` is e.g. http://127.0.0.1:8787. */
  signInLink(origin: string): string {
    return `${origin}${REVIEW_PATH}/signin?token=${this.sessions.issueLink()}`;
  }

  /** Real minutes a sign-in link stays valid. */
  get linkMinutes(): number {
    return this.sessions.linkMinutes;
  }

  static isConsolePath(path: string): boolean {
    return path === REVIEW_PATH || path.startsWith(`${REVIEW_PATH}/`);
  }

  /** Answers a request under /review; the caller has checked its Host header already. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    securityHeaders(res);
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.slice(REVIEW_PATH.length).replace(/^\/+/, "");
    const method = req.method ?? "GET";
    if (path === "" && method === "GET") return this.sendAsset(res, "review.html");
    if (isAssetName(path) && method === "GET") return this.sendAsset(res, path);
    if (path === "signin" && method === "GET") return this.signInWithLink(req, res, url);
    if (path === "signin" && method === "POST") return this.signInWithKey(req, res);
    const external = this.options.externalSignIn;
    if (
      external !== undefined &&
      path.startsWith("signin/") &&
      (await external.handle(req, res, (reviewer) => this.sessionCookie(req, reviewer, external.label)))
    ) {
      return;
    }
    if (!path.startsWith("api/") && path !== "signout") {
      return sendError(res, 404, "not_found", "not found");
    }
    const session = this.sessions.find(cookieValue(req, SESSION_COOKIE));
    if (session === undefined) {
      const other = this.options.externalSignIn;
      return sendJson(res, 401, {
        error: "signed_out",
        message: "sign in to the review console",
        sign_in_links: other ? [{ label: other.label, path: other.path }] : [],
      });
    }
    if (method === "POST") {
      if (!fromSameOrigin(req) || !csrfMatches(session, header(req, "x-csrf-token"))) {
        this.options.logger.warn(
          { reviewer: session.reviewer, path: url.pathname },
          "review console refused a state-changing request without its CSRF token or from another origin",
        );
        return sendError(res, 403, "csrf", "refused: missing CSRF token or foreign origin");
      }
      if (path === "signout") {
        this.sessions.close(session.id);
        res.setHeader("set-cookie", clearedCookie(req));
        return sendJson(res, 200, { signed_out: true });
      }
      const decision = /^api\/requests\/([A-Za-z0-9_]+)\/decision$/.exec(path);
      if (decision?.[1] !== undefined) return this.decide(req, res, session, decision[1]);
      return sendError(res, 404, "not_found", "not found");
    }
    if (method !== "GET") {
      res.setHeader("allow", "GET, POST");
      return sendError(res, 405, "method_not_allowed", "method not allowed");
    }
    switch (path) {
      case "api/session":
        return sendJson(res, 200, {
          reviewer: session.reviewer,
          csrf_token: session.csrfToken,
          history: this.options.auditLogPath !== undefined,
        });
      case "api/requests":
        return sendJson(res, 200, { requests: requestViews(await this.options.store.list()) });
      case "api/history":
        return sendJson(res, 200, {
          history: this.options.auditLogPath !== undefined,
          entries: this.options.auditLogPath ? await readHistory(this.options.auditLogPath) : [],
        });
      case "api/output":
        return this.output(res, url);
      case "api/events":
        return this.events.attach(res);
      default:
        return sendError(res, 404, "not_found", "not found");
    }
  }

  /**
   * Once: over stdio both the console's own server and the runtime close it, and closing the external
   * sign-in's connections a second time would reject (an unhandled rejection ends the process).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.events.close();
    this.options.externalSignIn?.close().catch((error: unknown) => {
      this.options.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "review console: closing the external sign-in failed",
      );
    });
  }

  private sendAsset(res: ServerResponse, name: AssetName): void {
    const asset = this.assets.get(name);
    if (asset === undefined) return sendError(res, 404, "not_found", "not found");
    res.writeHead(200, { "content-type": asset.contentType, "cache-control": "no-cache" }).end(asset.body);
  }

  /** Opens a session and sends the browser back to the console with its cookie. */
  private signIn(req: IncomingMessage, res: ServerResponse, reviewer: string, how: string): void {
    res.setHeader("set-cookie", this.sessionCookie(req, reviewer, how));
    redirect(res, REVIEW_PATH);
  }

  /** Opens a session for a reviewer whose sign-in succeeded; returns its cookie (`how`: for the log). */
  private sessionCookie(req: IncomingMessage, reviewer: string, how: string): string {
    const session = this.sessions.open(reviewer);
    this.options.logger.info({ reviewer, how }, "reviewer signed in to the review console");
    return sessionCookie(req, session.id, this.sessions.secondsLeft(session));
  }

  private signInWithLink(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const token = url.searchParams.get("token") ?? "";
    if (!this.sessions.consumeLink(token)) {
      this.options.logger.warn("review console refused a used, expired or unknown sign-in link");
      return redirect(res, `${REVIEW_PATH}?signin=link`);
    }
    this.signIn(req, res, LOCAL_REVIEWER, "one-time link");
  }

  private async signInWithKey(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!fromSameOrigin(req))
      return sendError(res, 403, "csrf", "refused: sign in from the console's own page");
    const body = await readSmallBody(req, MAX_BODY_BYTES);
    const key = body === undefined ? undefined : new URLSearchParams(body).get("key")?.trim();
    const reviewer = key ? this.options.reviewerKeys?.match(key) : undefined;
    if (reviewer === undefined) {
      this.options.logger.warn("review console refused a sign-in with an unknown reviewer key");
      return redirect(res, `${REVIEW_PATH}?signin=key`);
    }
    this.signIn(req, res, reviewer.name, "reviewer key");
  }

  private async decide(
    req: IncomingMessage,
    res: ServerResponse,
    session: ReviewSession,
    id: string,
  ): Promise<void> {
    const text = await readSmallBody(req, MAX_BODY_BYTES);
    let json: unknown;
    try {
      json = JSON.parse(text ?? "");
    } catch {
      return sendError(res, 400, "bad_request", "the decision must be JSON");
    }
    const body = DecisionBodySchema.safeParse(json);
    if (!body.success) {
      const message = body.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      return sendError(res, 400, "bad_request", message);
    }
    try {
      const decided = await decideReview(
        { review: this.options.store, audit: this.options.audit, policy: this.options.policy },
        id,
        {
          approve: body.data.approve,
          reviewer: session.reviewer,
          reason: body.data.reason,
          payloadSha256: body.data.payload_sha256,
        },
      );
      sendJson(res, 200, { id: decided.id, status: decided.status, decision: decided.decision ?? null });
    } catch (error) {
      if (error instanceof ReviewError) {
        const known = REVIEW_ERRORS[error.code];
        return sendError(res, known.status, error.code.toLowerCase(), known.message);
      }
      if (error instanceof AuditLogError) {
        this.options.logger.error({ code: error.code }, "review decision not recorded: nothing was decided");
        return sendError(
          res,
          503,
          "audit_unavailable",
          "The audit log cannot be written, so nothing was decided: try again once it is fixed.",
        );
      }
      throw error;
    }
  }

  /** A RunScript's output as the agent got it, for a reviewer who wants to see what ran (shown as text). */
  private async output(res: ServerResponse, url: URL): Promise<void> {
    const actionId = url.searchParams.get("action_id") ?? "";
    const index = Number(url.searchParams.get("command_index"));
    if (actionId === "" || !Number.isInteger(index) || index < 0) {
      return sendError(res, 400, "bad_request", "name action_id and command_index");
    }
    // Only this server's own actions, as the audit log names them: not any action of the tenant.
    const known =
      this.options.auditLogPath !== undefined &&
      (await readHistory(this.options.auditLogPath)).some((e) =>
        e.actions.some((a) => a.action_id?.toLowerCase() === actionId.toLowerCase()),
      );
    if (!known) return sendError(res, 404, "no_output", "no action of this server has that id");
    try {
      const { action } = await this.options.liveResponse.getAction(actionId);
      const result = (await this.options.liveResponse.commandResults(action)).find((r) => r.index === index);
      if (result === undefined || !("output" in result)) {
        return sendError(res, 404, "no_output", "this command has no script output to show");
      }
      sendJson(res, 200, {
        exit_code: result.exitCode,
        output: result.output.slice(0, MAX_OUTPUT_CHARS),
        errors: result.errors.slice(0, MAX_OUTPUT_CHARS),
        truncated: result.output.length > MAX_OUTPUT_CHARS,
      });
    } catch (error) {
      this.options.logger.warn(
        { actionId, err: error instanceof Error ? error.message : String(error) },
        "review console could not read an output",
      );
      sendError(res, 502, "unavailable", "the output cannot be read now");
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
