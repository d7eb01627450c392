import { describe, expect, it } from "vitest";
import { AuthenticationError } from "../../src/auth/errors.js";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
  type DefenderEndpoint,
} from "../../src/defender/errors.js";
import { InvalidQueryError } from "../../src/defender/odataQuery.js";
import { SessionCapError } from "../../src/liveResponse/sessionTracker.js";
import { describeError, toToolError } from "../../src/tools/toolErrors.js";

function apiError(
  status: number,
  code: string,
  endpoint: DefenderEndpoint = "runLiveResponse",
  extra: { detail?: string; retryAfterMs?: number } = {},
): DefenderApiError {
  return new DefenderApiError({
    status,
    code,
    endpoint,
    detail: extra.detail ?? `detail of ${code}`,
    retryAfterMs: extra.retryAfterMs,
  });
}

function textOf(error: unknown, context = {}): string {
  const result = toToolError(error, context);
  expect(result.isError).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  const [first] = result.content;
  if (first?.type !== "text") throw new Error("expected a text result");
  return first.text;
}

describe("toToolError", () => {
  it("explains a full session cap: who holds the sessions and how to free them", () => {
    const error = new SessionCapError({
      inUse: 2,
      max: 2,
      held: [{ actionId: "a1", machineId: "m1", status: "Pending" }],
    });
    const described = describeError(error, { submit: true });
    expect(described.code).toBe("SESSION_CAP");
    expect(described.message).toContain("2 of 2 live response sessions");
    expect(described.message).toContain("a1");
    expect(described.next_step).toContain("cancel actions queued on offline devices");
  });

  it("names the field of an input mistake and says nothing was sent", () => {
    const text = textOf(
      new InvalidInputError("commands", "commands must be ordered PutFile, then RunScript, then GetFile"),
    );
    expect(text).toContain("Error INVALID_INPUT: invalid commands: commands must be ordered");
    expect(text).toContain(
      "Next step: fix commands as described and call again; nothing was sent to Defender",
    );
  });

  it("explains an invalid search", () => {
    const text = textOf(new InvalidQueryError("top must be an integer from 1 to 10000, got 0"));
    expect(text).toContain("INVALID_QUERY");
    expect(text).toContain("change the search value");
  });

  it("names the action a busy device runs when it is known, and how to free the device", () => {
    const busy = "7f7d4a1c-2b4e-4b6a-9c1d-0e2f3a4b5c6d";
    const text = textOf(apiError(400, "ActiveRequestAlreadyExists"), { busyActionId: busy });
    expect(text).toContain(`busy with another live response action (action_id "${busy}")`);
    expect(text).toContain(
      `get_action (action_id "${busy}") or cancel it with cancel_action, then submit again`,
    );
  });

  it("still says how to free a busy device when its action is unknown", () => {
    const text = textOf(apiError(400, "ActiveRequestAlreadyExists"));
    expect(text).toContain("busy with another live response action;");
    expect(text).toContain("cancel it with cancel_action");
  });

  it("points a submit's 404 to find_machines and list_library_files, with the API's message", () => {
    const text = textOf(
      apiError(404, "ResourceNotFound", "runLiveResponse", {
        detail: "File Nope.ps1 was not found in the live response library",
      }),
    );
    expect(text).toContain("File Nope.ps1 was not found in the live response library");
    expect(text).toContain("find_machines");
    expect(text).toContain("list_library_files (names must match exactly, including the extension)");
    expect(text).not.toContain("runLiveResponse failed with HTTP");
  });

  it("points an unknown device to find_machines", () => {
    expect(textOf(apiError(404, "ResourceNotFound", "getMachine"))).toContain(
      "use find_machines to get the device id",
    );
  });

  it.each(["getMachineAction", "cancelMachineAction"] as const)(
    "explains an unknown action id (%s)",
    (endpoint) => {
      const text = textOf(apiError(404, "NotFound", endpoint));
      expect(text).toContain("no machine action has this id");
      expect(text).toContain("check action_id");
    },
  );

  it("gives a generic not-found for other endpoints", () => {
    expect(textOf(apiError(404, "NotFound", "listLibraryFiles"))).toContain("check the ids and names given");
  });

  it("says how long to wait when rate limited", () => {
    const text = textOf(apiError(429, "TooManyRequests", "getMachineAction", { retryAfterMs: 12_400 }));
    expect(text).toContain("rate limited");
    expect(text).toContain("retry after 13 s");
    expect(text).toContain("10 live response submits a minute");
  });

  it("falls back to a minute when no Retry-After came", () => {
    expect(textOf(apiError(429, "TooManyRequests", "listMachines"))).toContain("retry after 60 s");
  });

  it("names the permission a 403 lacks and the check command", () => {
    const text = textOf(apiError(403, "Forbidden", "listLibraryFiles"));
    expect(text).toContain("lacks the permission this call needs (Library.Manage)");
    expect(text).toContain("Machine.LiveResponse, Machine.Read.All and Library.Manage");
    expect(text).toContain("mde-live-response-mcp check");
  });

  it("explains a rejected token", () => {
    const text = textOf(apiError(401, "Unauthorized", "getMachine"));
    expect(text).toContain("rejected this server's access token");
    expect(text).toContain("mde-live-response-mcp check");
  });

  it("says who must enable live response when the feature is off", () => {
    const text = textOf(apiError(403, "DisabledFeature"));
    expect(text).toContain("live response is turned off for this tenant");
    expect(text).toContain("Advanced features > Live response");
  });

  it("explains a disallowed operation", () => {
    expect(textOf(apiError(403, "DisallowedOperation"))).toContain("do not retry");
  });

  it("explains an unsupported platform and an old sensor", () => {
    expect(textOf(apiError(400, "OsPlatformNotSupported"))).toContain(
      "operating system does not support live response",
    );
    expect(textOf(apiError(400, "ClientVersionNotSupported"))).toContain("update the sensor");
  });

  it.each(["InvalidRequestBody", "BadRequest", "InvalidInput", "MissingRequiredParameter"])(
    "passes the API's cleaned message for %s",
    (code) => {
      const text = textOf(
        apiError(400, code, "runLiveResponse", {
          detail: "Please avoid using the following characters as part of scripts' parameters: ; & | ! $ ( )",
        }),
      );
      expect(text).toContain(
        `Error ${code}: Defender rejected the request: Please avoid using the following characters`,
      );
      expect(text).toContain("fix the request as the message says");
    },
  );

  it("says a 400 on cancel that reaches a tool is a refusal of an action that is not final", () => {
    // A cancel of a final action never gets here: the domain re-reads the action and returns it.
    const text = textOf(apiError(400, "BadRequest", "cancelMachineAction"));
    expect(text).toContain("would not cancel the action");
    expect(text).toContain("was not final when read after this answer");
  });

  it("calls a 5xx temporary", () => {
    expect(textOf(apiError(503, "ServiceUnavailable", "listMachines"))).toContain("retry in a minute");
  });

  it("warns against resubmitting when a submit's outcome is unknown", () => {
    for (const error of [
      apiError(500, "InternalServerError"),
      new DefenderNetworkError({
        code: "ECONNRESET",
        sent: "unknown",
        endpoint: "runLiveResponse",
        detail: "reset",
      }),
      new DefenderResponseError({
        status: 201,
        endpoint: "runLiveResponse",
        reason: "not_json",
        detail: "x",
      }),
    ]) {
      const text = textOf(error, { submit: true });
      expect(text).toContain("the action may already exist on the device");
      expect(text).toContain("do not send the same commands again at once");
    }
  });

  it("treats a submit that never left as a plain network problem", () => {
    const text = textOf(
      new DefenderNetworkError({
        code: "ECONNREFUSED",
        sent: false,
        endpoint: "runLiveResponse",
        detail: "refused",
      }),
      { submit: true },
    );
    expect(text).toContain("could not reach Defender (ECONNREFUSED)");
    expect(text).not.toContain("may already exist");
  });

  it("explains an aborted call", () => {
    const text = textOf(
      new DefenderNetworkError({ code: "ABORTED", sent: false, endpoint: "getMachineAction", detail: "x" }),
    );
    expect(text).toContain("cancelled before Defender answered");
  });

  it("says a device whose submit was never sent because the request was cancelled has no action", () => {
    const text = textOf(
      new DefenderNetworkError({ code: "ABORTED", sent: false, endpoint: "runLiveResponse", detail: "x" }),
      { submit: true },
    );
    expect(text).toContain("cancelled before this device's submit was sent: no action was created");
    expect(text).toContain("call run_live_response again for this device");
    expect(text).not.toContain("may already exist");
  });

  it("explains an unreadable response", () => {
    const text = textOf(
      new DefenderResponseError({ status: 200, endpoint: "listMachines", reason: "shape", detail: "x" }),
    );
    expect(text).toContain("could not read");
  });

  it("tells a configuration problem from a transient identity platform problem", () => {
    const config = textOf(
      new AuthenticationError("AUTH_FAILED", "AADSTS7000215: Invalid client secret provided."),
    );
    expect(config).toContain("could not get a token for Defender: AADSTS7000215");
    expect(config).toContain("AZURE_CLIENT_SECRET");
    const transient = textOf(new AuthenticationError("AUTH_UNREACHABLE", "login host unreachable"));
    expect(transient).toContain("retry in a minute");
  });

  it("hides the internals of anything unexpected", () => {
    const error = new Error("boom with Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig and secret s3cr3t");
    const text = textOf(error);
    expect(text).toBe(
      "Error INTERNAL_ERROR: the server failed while handling this call; the details are in its log\nNext step: retry once; if it fails again, report it to whoever runs this server",
    );
  });

  it("never lets a SAS link, a token or a stack through", () => {
    const errors = [
      apiError(400, "BadRequest", "runLiveResponse", {
        detail:
          "see https://acct.blob.core.windows.net/c/b?se=2026&sig=abcdef and Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x",
      }),
      new TypeError("x is undefined"),
    ];
    for (const error of errors) {
      const text = textOf(error);
      expect(text).not.toMatch(/sig=(?!\[redacted\])/);
      expect(text).not.toMatch(/Bearer (?!\[redacted\])/);
      expect(text).not.toMatch(/\n\s+at /);
    }
  });

  it("describes errors for action entries with the same words", () => {
    expect(describeError(apiError(400, "ActiveRequestAlreadyExists"))).toMatchObject({
      code: "ActiveRequestAlreadyExists",
      next_step: expect.stringContaining("cancel_action"),
    });
  });
});
