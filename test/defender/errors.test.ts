import { describe, expect, it } from "vitest";
import {
  DefenderApiError,
  DefenderNetworkError,
  DefenderResponseError,
  InvalidInputError,
  redactSecrets,
  submitOutcome,
} from "../../src/defender/errors.js";

function api(status: number): DefenderApiError {
  return new DefenderApiError({ status, code: "X", detail: "d", endpoint: "runLiveResponse" });
}

function network(code: string, dispatched = true): DefenderNetworkError {
  return DefenderNetworkError.from(Object.assign(new Error(code), { code }), "runLiveResponse", {
    dispatched,
    aborted: false,
  });
}

describe("submitOutcome", () => {
  it("calls a rejected request not executed", () => {
    for (const status of [400, 401, 403, 404, 429]) expect(submitOutcome(api(status))).toBe("not_executed");
    expect(submitOutcome(new InvalidInputError("machine_id", "bad"))).toBe("not_executed");
  });

  it("calls a request that never left not executed", () => {
    for (const code of [
      "ECONNREFUSED",
      "ENOTFOUND",
      "UND_ERR_CONNECT_TIMEOUT",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ]) {
      const error = network(code);
      expect(error.sent).toBe(false);
      expect(submitOutcome(error)).toBe("not_executed");
    }
    const abortedBefore = DefenderNetworkError.from(undefined, "runLiveResponse", {
      dispatched: false,
      aborted: true,
    });
    expect(abortedBefore).toMatchObject({ code: "ABORTED", sent: false });
    expect(submitOutcome(abortedBefore)).toBe("not_executed");
  });

  it("calls anything that may have run unknown", () => {
    for (const status of [408, 500, 502, 503, 504]) expect(submitOutcome(api(status))).toBe("unknown");
    expect(network("UND_ERR_HEADERS_TIMEOUT").sent).toBe(true);
    expect(submitOutcome(network("UND_ERR_HEADERS_TIMEOUT"))).toBe("unknown");
    expect(submitOutcome(network("ECONNRESET"))).toBe("unknown");
    expect(
      submitOutcome(
        DefenderNetworkError.from(new Error("x"), "runLiveResponse", { dispatched: true, aborted: true }),
      ),
    ).toBe("unknown");
    expect(
      submitOutcome(
        new DefenderResponseError({
          status: 201,
          endpoint: "runLiveResponse",
          reason: "not_json",
          detail: "x",
        }),
      ),
    ).toBe("unknown");
    expect(submitOutcome(new Error("surprise"))).toBe("unknown");
  });

  it("names undici's 'other side closed' a reset", () => {
    expect(network("UND_ERR_SOCKET").code).toBe("ECONNRESET");
  });
});

describe("redactSecrets", () => {
  it("keeps host and path of a URL but drops its query", () => {
    const text = redactSecrets(
      "failed https://acct.blob.core.windows.net/c/b/x?se=2021&sp=r&sig=abc%2Bdef now",
    );
    expect(text).toBe("failed https://acct.blob.core.windows.net/c/b/x?[redacted] now");
  });

  it("removes bearer tokens, JWTs and stray sig= parameters", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    const text = redactSecrets(`Authorization: Bearer ${jwt}; token ${jwt}; sig=abcdef&x=1`);
    expect(text).not.toContain("eyJ");
    expect(text).not.toContain("abcdef");
  });

  it("is applied to every message the client builds", () => {
    const error = new DefenderApiError({
      status: 400,
      code: "BadRequest",
      detail: "bad link https://h/p?sig=SECRET",
      endpoint: "downloadResultBlob",
    });
    expect(error.message).not.toContain("SECRET");
  });
});
