import { describe, expect, it } from "vitest";
import {
  ErrorBodySchema,
  LibraryFileCollectionSchema,
  MachineActionCollectionSchema,
  MachineActionSchema,
  MachineSchema,
  ResultLinkSchema,
  RunScriptResultSchema,
  isFinalActionStatus,
  isFinalCommandStatus,
} from "../../src/defender/schemas.js";

/** The real LiveResponse action published in reference §4 (field order and nulls as the API sends them). */
const realAction = {
  id: "5382f7ea-7557-4ab7-9782-d50480024a4e",
  type: "LiveResponse",
  title: null,
  requestor: "M365DLiveResponse",
  requestorComment: "triage [req:abc]",
  status: "Succeeded",
  machineId: "1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
  computerDnsName: "desktop-test",
  creationDateTimeUtc: "2023-03-18T21:02:00.3538594Z",
  lastUpdateDateTimeUtc: "2023-03-18T21:04:05.1234567Z",
  cancellationRequestor: null,
  cancellationComment: null,
  cancellationDateTimeUtc: null,
  errorHResult: 0,
  scope: null,
  externalId: null,
  requestSource: "PublicApi",
  relatedFileInfo: null,
  commands: [
    {
      index: 0,
      startTime: "2023-03-18T21:04:01.92Z",
      endTime: "2023-03-18T21:04:04.693Z",
      commandStatus: "Completed",
      errors: [],
      command: { type: "RunScript", params: [{ key: "ScriptName", value: "Add-DomainAdmin.ps1" }] },
    },
  ],
  troubleshootInfo: null,
};

describe("MachineActionSchema", () => {
  it("parses the real API's LiveResponse action", () => {
    const action = MachineActionSchema.parse(realAction);
    expect(action.status).toBe("Succeeded");
    expect(action.commands[0]?.command?.params).toEqual([
      { key: "ScriptName", value: "Add-DomainAdmin.ps1" },
    ]);
    expect(action.lastUpdateDateTimeUtc).toBe("2023-03-18T21:04:05.1234567Z");
  });

  it("ignores unknown fields", () => {
    const action = MachineActionSchema.parse({ ...realAction, brandNewField: { x: 1 }, anotherOne: 3 });
    expect(action).not.toHaveProperty("brandNewField");
    expect(action.id).toBe(realAction.id);
  });

  it("keeps unknown status values and treats them as not final", () => {
    const action = MachineActionSchema.parse({
      ...realAction,
      status: "Queued",
      commands: [{ ...realAction.commands[0], commandStatus: "InProgress" }],
    });
    expect(action.status).toBe("Queued");
    expect(isFinalActionStatus(action.status)).toBe(false);
    expect(isFinalCommandStatus(action.commands[0]?.commandStatus ?? "")).toBe(false);
    expect(isFinalActionStatus("Cancelled")).toBe(true);
    expect(isFinalActionStatus("TimeOut")).toBe(true);
    expect(isFinalCommandStatus("Failed")).toBe(true);
  });

  it("reads lastUpdateTimeUtc (the docs' variant) as lastUpdateDateTimeUtc", () => {
    const { lastUpdateDateTimeUtc: _, ...rest } = realAction;
    const action = MachineActionSchema.parse({ ...rest, lastUpdateTimeUtc: "2024-01-01T00:00:00Z" });
    expect(action.lastUpdateDateTimeUtc).toBe("2024-01-01T00:00:00Z");
    expect(action).not.toHaveProperty("lastUpdateTimeUtc");
  });

  it("reads externalID (the docs' spelling) as externalId", () => {
    expect(
      MachineActionSchema.parse({ ...realAction, externalId: undefined, externalID: "ext-1" }).externalId,
    ).toBe("ext-1");
  });

  it("turns string and object errors into text", () => {
    const action = MachineActionSchema.parse({
      ...realAction,
      status: "Failed",
      commands: [
        {
          ...realAction.commands[0],
          commandStatus: "Failed",
          errors: ["Script execution failed", { code: 5, message: "Access denied" }, { weird: true }],
        },
      ],
    });
    expect(action.commands[0]?.errors).toEqual([
      "Script execution failed",
      "Access denied",
      '{"weird":true}',
    ]);
  });

  it("accepts the minimal docs example (missing optional fields become null, commands [])", () => {
    const action = MachineActionSchema.parse({ id: realAction.id, type: "LiveResponse", status: "Pending" });
    expect(action.commands).toEqual([]);
    expect(action.requestorComment).toBeNull();
    expect(action.computerDnsName).toBeNull();
    expect(action.lastUpdateDateTimeUtc).toBeNull();
  });

  it("accepts null commands, errors and params", () => {
    const action = MachineActionSchema.parse({
      ...realAction,
      commands: [
        { index: 0, commandStatus: "Created", errors: null, command: { type: "GetFile", params: null } },
      ],
    });
    expect(action.commands[0]).toMatchObject({ errors: [], startTime: null, command: { params: [] } });
    expect(MachineActionSchema.parse({ ...realAction, commands: null }).commands).toEqual([]);
  });

  it("rejects a body without id or status", () => {
    expect(MachineActionSchema.safeParse({ type: "LiveResponse", status: "Pending" }).success).toBe(false);
    expect(MachineActionSchema.safeParse({ id: realAction.id, type: "LiveResponse" }).success).toBe(false);
  });
});

describe("collections", () => {
  it("tolerates a missing @odata.count and reads nextLink and count when present", () => {
    const bare = MachineActionCollectionSchema.parse({ "@odata.context": "x", value: [realAction] });
    expect(bare["@odata.count"]).toBeUndefined();
    expect(bare["@odata.nextLink"]).toBeUndefined();
    const paged = MachineActionCollectionSchema.parse({
      value: [],
      "@odata.count": 12,
      "@odata.nextLink": "https://api.securitycenter.microsoft.com/api/machineactions?$skip=10",
    });
    expect(paged["@odata.count"]).toBe(12);
    expect(paged["@odata.nextLink"]).toContain("$skip=10");
  });

  it("reads a null nextLink as absent and a count written as a string as a number", () => {
    const page = MachineActionCollectionSchema.parse({
      value: [],
      "@odata.nextLink": null,
      "@odata.count": "3",
    });
    expect(page["@odata.nextLink"]).toBeUndefined();
    expect(page["@odata.count"]).toBe(3);
  });

  it("keeps an error's code when its message or target is null", () => {
    expect(
      ErrorBodySchema.parse({ error: { code: "InternalServerError", message: null, target: null } }).error,
    ).toEqual({ code: "InternalServerError", message: undefined, target: undefined });
  });

  it("parses the docs' library list (parametersDescription omitted when hasParameters is false)", () => {
    const page = LibraryFileCollectionSchema.parse({
      "@odata.context": "https://api.security.microsoft.com/api/$metadata#LibraryFiles",
      value: [
        {
          fileName: "script1.ps1",
          sha256: "6e21",
          description: null,
          creationTime: "2019-10-24T10:54:23.2009016Z",
          lastUpdatedTime: "2019-10-24T10:54:23.2009016Z",
          createdBy: "admin",
          hasParameters: true,
          parametersDescription: "test",
        },
        {
          fileName: "script.sh",
          sha256: "d0f3",
          description: null,
          createdBy: "username",
          hasParameters: false,
        },
      ],
    });
    expect(page.value[1]).toMatchObject({
      fileName: "script.sh",
      hasParameters: false,
      parametersDescription: null,
    });
  });
});

describe("MachineSchema", () => {
  it("parses a machine with unknown health status and extra fields; tags default to []", () => {
    const machine = MachineSchema.parse({
      id: "1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
      computerDnsName: "mymachine1.contoso.com",
      healthStatus: "SomethingNew",
      osBuild: 19045,
      vmMetadata: { vmId: "x" },
    });
    expect(machine.healthStatus).toBe("SomethingNew");
    expect(machine.machineTags).toEqual([]);
    expect(machine.rbacGroupId).toBeNull();
  });
});

describe("small shapes", () => {
  it("reads the result link and the documented error body", () => {
    expect(
      ResultLinkSchema.parse({ "@odata.context": "x#Edm.String", value: "https://a/b?sig=1" }).value,
    ).toBe("https://a/b?sig=1");
    expect(
      ErrorBodySchema.parse({
        error: { code: "ResourceNotFound", message: "Machine 1 was not found", target: "43f4" },
      }),
    ).toEqual({ error: { code: "ResourceNotFound", message: "Machine 1 was not found", target: "43f4" } });
    expect(ErrorBodySchema.safeParse({ message: "nope" }).success).toBe(false);
  });

  it("reads a RunScript transcript tolerantly", () => {
    expect(
      RunScriptResultSchema.parse({
        script_name: "a.ps1",
        exit_code: 0,
        script_output: "x\u0000",
        script_errors: "",
      }),
    ).toEqual({ script_name: "a.ps1", exit_code: 0, script_output: "x\u0000", script_errors: "" });
    expect(RunScriptResultSchema.parse({ exit_code: "3", script_output: 5, extra: true })).toEqual({
      script_name: null,
      exit_code: 3,
      script_output: null,
      script_errors: null,
    });
    expect(RunScriptResultSchema.parse({})).toEqual({
      script_name: null,
      exit_code: null,
      script_output: null,
      script_errors: null,
    });
  });
});
