import { describe, expect, it } from "vitest";
import {
  CloudNameSchema,
  CLOUDS,
  isMicrosoftAuthorityHost,
  resolveCloudEndpoints,
} from "../../src/auth/clouds.js";

describe("clouds", () => {
  it("maps every MDE_CLOUD to its API host, login host and scope (reference §1.1–1.2)", () => {
    const commercialScope = "https://api.securitycenter.microsoft.com/.default";
    expect(CLOUDS).toEqual({
      commercial: {
        authorityHost: "https://login.microsoftonline.com",
        apiBaseUrl: "https://api.securitycenter.microsoft.com",
        scope: commercialScope,
      },
      us: {
        authorityHost: "https://login.microsoftonline.com",
        apiBaseUrl: "https://api-us.securitycenter.microsoft.com",
        scope: commercialScope,
      },
      eu: {
        authorityHost: "https://login.microsoftonline.com",
        apiBaseUrl: "https://api-eu.securitycenter.microsoft.com",
        scope: commercialScope,
      },
      uk: {
        authorityHost: "https://login.microsoftonline.com",
        apiBaseUrl: "https://api-uk.securitycenter.microsoft.com",
        scope: commercialScope,
      },
      gcc: {
        authorityHost: "https://login.microsoftonline.com",
        apiBaseUrl: "https://api-gcc.securitycenter.microsoft.us",
        scope: "https://api-gcc.securitycenter.microsoft.us/.default",
      },
      "gcc-high": {
        authorityHost: "https://login.microsoftonline.us",
        apiBaseUrl: "https://api-gov.securitycenter.microsoft.us",
        scope: "https://api-gov.securitycenter.microsoft.us/.default",
      },
      dod: {
        authorityHost: "https://login.microsoftonline.us",
        apiBaseUrl: "https://api-gov.securitycenter.microsoft.us",
        scope: "https://api-gov.securitycenter.microsoft.us/.default",
      },
    });
  });

  it("validates cloud names", () => {
    expect(CloudNameSchema.options).toEqual(["commercial", "us", "eu", "uk", "gcc", "gcc-high", "dod"]);
    expect(CloudNameSchema.safeParse("china").success).toBe(false);
  });

  it("defaults to the commercial cloud", () => {
    expect(resolveCloudEndpoints({})).toEqual(CLOUDS.commercial);
  });

  it("lets explicit values win, keeping the cloud's scope for an overridden API base", () => {
    expect(
      resolveCloudEndpoints({
        cloud: "gcc-high",
        apiBaseUrl: "https://localhost:8443/",
        authorityHost: "https://localhost:8443/",
      }),
    ).toEqual({
      authorityHost: "https://localhost:8443",
      apiBaseUrl: "https://localhost:8443",
      scope: "https://api-gov.securitycenter.microsoft.us/.default",
    });
    expect(
      resolveCloudEndpoints({ cloud: "dod", scope: "https://api.securitycenter.microsoft.us/.default" })
        .scope,
    ).toBe("https://api.securitycenter.microsoft.us/.default");
  });

  it("knows Microsoft's login hosts from any other authority host", () => {
    expect(isMicrosoftAuthorityHost("https://login.microsoftonline.com")).toBe(true);
    expect(isMicrosoftAuthorityHost("https://LOGIN.microsoftonline.us/")).toBe(true);
    expect(isMicrosoftAuthorityHost("https://localhost:8443")).toBe(false);
    expect(isMicrosoftAuthorityHost("https://login.microsoftonline.com.evil.example")).toBe(false);
  });
});
