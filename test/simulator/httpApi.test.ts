import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { FormData, request } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { MACHINE_ACTION_FIELDS } from "../helpers/referenceShapes.js";
import { scenarioWith, startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";

const FINANCE = "9d663375e3e46799a6657b0c0c74b873c9fcd069"; // online, tags Finance + VIP
const HR = "2be8a43e061cff68020fca2c9ac134d5d0d20a1b"; // online
const DC = "bc2f7802a52ee6df330a0a7b77cfdd9d03f5fb67"; // online
const KIOSK = "b63153e8bd6b82ee9f39c9d441678fcfc24fc2ee"; // offline for good

const READER = {
  clientId: randomUUID(),
  clientSecret: "reader-secret-0123456789",
  displayName: "read-only app",
};
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The reference §3.1 example, with a script and a file the demo tenant has. */
const EXAMPLE_BODY = {
  Commands: [
    {
      type: "RunScript",
      params: [
        { key: "ScriptName", value: "Get-RecentFiles.ps1" },
        { key: "Args", value: "OfficeClickToRun" },
      ],
    },
    { type: "GetFile", params: [{ key: "Path", value: "C:\\Windows\\Temp\\IR\\EventLogs.zip" }] },
  ],
  Comment: "Testing Live Response API",
};

const runScript = (name: string) => ({
  Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: name }] }],
  Comment: `test ${randomUUID()}`,
});

type Json = Record<string, unknown>;
const errorOf = (json: unknown) =>
  (json as { error: { code: string; message: string; target: string } }).error;

let t: TestSimulator;

beforeAll(async () => {
  t = await startTestSimulator({
    scenario: scenarioWith({
      apps: [{ ...READER, roles: ["Machine.Read.All"] }],
    }),
  });
});
afterAll(() => t.close());
beforeEach(() => t.sim.reset());

async function waitForStatus(actionId: string, status: string): Promise<Json> {
  for (let i = 0; i < 500; i++) {
    const res = await t.call("GET", `/api/machineactions/${actionId}`);
    const action = res.json as Json;
    if (action.status === status) return action;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`action ${actionId} never reached ${status}`);
}

describe("runliveresponse and the action lifecycle", () => {
  test("the reference example body answers 201 with the full MachineAction, fields in wire order", async () => {
    const res = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, { body: EXAMPLE_BODY });
    expect(res.status).toBe(201);
    const action = res.json as Json;
    expect(Object.keys(action)).toEqual(["@odata.context", ...MACHINE_ACTION_FIELDS]);
    expect(action).toMatchObject({
      "@odata.context": `${t.sim.apiBase}/api/$metadata#MachineActions/$entity`,
      type: "LiveResponse",
      title: null,
      requestor: "mde-live-response-mcp (demo)",
      requestorComment: "Testing Live Response API",
      status: "Pending",
      machineId: FINANCE,
      computerDnsName: "fin-ws-0142.contoso.com",
      cancellationRequestor: null,
      errorHResult: 0,
      requestSource: "PublicApi",
      relatedFileInfo: null,
    });
    expect(action.id).toMatch(GUID);
    expect(action.creationDateTimeUtc).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    expect(action.commands).toEqual(
      EXAMPLE_BODY.Commands.map((command, index) => ({
        index,
        startTime: null,
        endTime: null,
        commandStatus: "Created",
        errors: [],
        command,
      })),
    );
  });

  test("polling reaches Succeeded; result links serve the RunScript transcript and the GetFile ZIP", async () => {
    const created = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, { body: EXAMPLE_BODY });
    const id = (created.json as Json).id as string;
    const done = await waitForStatus(id, "Succeeded");
    expect((done.commands as Json[]).map((c) => c.commandStatus)).toEqual(["Completed", "Completed"]);

    const link = await t.call("GET", `/api/machineactions/${id}/GetLiveResponseResultDownloadLink(index=0)`);
    expect(link.status).toBe(200);
    const { "@odata.context": context, value } = link.json as { "@odata.context": string; value: string };
    expect(context).toBe(`${t.sim.apiBase}/api/$metadata#Edm.String`);
    const url = new URL(value);
    expect(url.origin).toBe(t.sim.blobBase);
    expect(url.pathname).toMatch(
      new RegExp(`^/investigation-actions-data/${id}/CustomPlaybookCommandOutput/0-[0-9a-f]+$`),
    );
    expect(url.searchParams.get("se")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Object.fromEntries([...url.searchParams].filter(([k]) => k !== "se" && k !== "sig"))).toEqual({
      sp: "r",
      sv: "2019-07-07",
      sr: "b",
    });

    const transcript = await t.call("GET", value, { token: null });
    expect(transcript.status).toBe(200);
    expect(transcript.json).toMatchObject({
      script_name: "Get-RecentFiles.ps1",
      exit_code: 0,
      script_errors: "",
    });
    expect((transcript.json as Json).script_output).toContain("OfficeClickToRun");

    const fileLink = await t.call(
      "GET",
      `/api/machineactions/${id}/GetLiveResponseResultDownloadLink(index=1)`,
    );
    const file = await request((fileLink.json as { value: string }).value, { dispatcher: t.dispatcher });
    expect(file.statusCode).toBe(200);
    expect(file.headers["content-type"]).toBe("application/octet-stream");
    const bytes = Buffer.from(await file.body.arrayBuffer());
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  });

  test("cancel: a pending action becomes Cancelled; cancelling it again is a 400", async () => {
    const created = await t.call("POST", `/api/machines/${KIOSK}/runliveresponse`, {
      body: runScript("Get-Autoruns.ps1"),
    });
    const id = (created.json as Json).id as string;
    const cancelled = await t.call("POST", `/api/machineactions/${id}/cancel`, {
      body: { Comment: "Machine action was canceled by automation" },
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({
      "@odata.context": `${t.sim.apiBase}/api/$metadata#MachineActions/$entity`,
      id,
      status: "Cancelled",
      cancellationRequestor: "mde-live-response-mcp (demo)",
      cancellationComment: "Machine action was canceled by automation",
    });
    expect((cancelled.json as Json).cancellationDateTimeUtc).toEqual(expect.any(String));
    const again = await t.call("POST", `/api/machineactions/${id}/cancel`, { body: { Comment: "again" } });
    expect(again.status).toBe(400);
  });
});

describe("errors", () => {
  test("401 Unauthorized without a token and with a bad one, with WWW-Authenticate: Bearer", async () => {
    for (const token of [null, "not-a-jwt", `${await t.token()}x`]) {
      const res = await t.call("GET", "/api/machines", { token });
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe("Bearer");
      expect(errorOf(res.json)).toMatchObject({ code: "Unauthorized", target: expect.stringMatching(GUID) });
    }
  });

  test("401 for a token minted for another resource; every Defender audience variant is accepted", async () => {
    const graph = await t.token(undefined, "https://graph.microsoft.com/.default");
    expect((await t.call("GET", "/api/machines", { token: graph })).status).toBe(401);
    for (const scope of [
      "https://api.security.microsoft.com/.default",
      "https://securitycenter.onmicrosoft.com/windowsatpservice/.default",
      "https://api-gov.securitycenter.microsoft.us/.default",
    ]) {
      const token = await t.token(undefined, scope);
      expect((await t.call("GET", "/api/machines", { token })).status).toBe(200);
    }
  });

  test("403 Forbidden when the app lacks the endpoint's permission", async () => {
    const token = await t.token(READER);
    const submit = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, {
      token,
      body: runScript("Get-Autoruns.ps1"),
    });
    expect(submit.status).toBe(403);
    expect(errorOf(submit.json).code).toBe("Forbidden");
    expect((await t.call("GET", "/api/libraryfiles", { token })).status).toBe(403);
    expect((await t.call("GET", "/api/machines", { token })).status).toBe(200);
  });

  test("404 for an unknown machine, action or route; 405 for a known route with the wrong method", async () => {
    const machine = await t.call("POST", `/api/machines/${"0".repeat(40)}/runliveresponse`, {
      body: runScript("Get-Autoruns.ps1"),
    });
    expect(machine.status).toBe(404);
    expect(errorOf(machine.json).code).toBe("ResourceNotFound");
    const getMachine = await t.call("GET", `/api/machines/${"0".repeat(40)}`);
    expect(errorOf(getMachine.json).code).toBe("ResourceNotFound");
    const action = await t.call("GET", `/api/machineactions/${randomUUID()}`);
    expect(action.status).toBe(404);
    expect(errorOf(action.json).code).toBe("ResourceNotFound");
    const route = await t.call("GET", "/api/alerts");
    expect(route.status).toBe(404);
    expect(errorOf(route.json).code).toBe("NotFound");
    const outside = await t.call("GET", "/nothing/here");
    expect(errorOf(outside.json).code).toBe("NotFound");
    const method = await t.call("DELETE", "/api/machineactions");
    expect(method.status).toBe(405);
    expect(method.headers.allow).toBe("GET");
  });

  test("400 InvalidRequestBody for malformed JSON and for a body over 1 MB", async () => {
    const malformed = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, {
      body: '{"Commands": [',
    });
    expect(malformed.status).toBe(400);
    expect(errorOf(malformed.json).code).toBe("InvalidRequestBody");
    const huge = await t.call("POST", `/api/machines/${FINANCE}/runliveresponse`, {
      body: { Commands: [], Comment: "x".repeat(1024 * 1024) },
    });
    expect(huge.status).toBe(400);
    expect(errorOf(huge.json).code).toBe("InvalidRequestBody");
  });
});

describe("routing and OData", () => {
  test("@odata.context and next links echo the host the client called; /api/v1.0 and any casing route", async () => {
    const viaIp = await t.call("GET", `${t.sim.blobBase}/API/V1.0/Machines?$top=1`);
    expect(viaIp.status).toBe(200);
    const body = viaIp.json as Json;
    expect(body["@odata.context"]).toBe(`${t.sim.blobBase}/api/$metadata#Machines`);
    // $top is the total the client wants, not a page size: no next page after it.
    expect(body.value).toHaveLength(1);
    expect(body["@odata.nextLink"]).toBeUndefined();
    const one = await t.call("GET", `/api/v1.0/machines/${FINANCE}`);
    expect(one.json).toMatchObject({
      "@odata.context": `${t.sim.apiBase}/api/$metadata#Machines/$entity`,
      id: FINANCE,
    });
  });

  test("server-driven paging: a page cut by the page size links to the rest, on the host called, $top owed", async () => {
    const paged = await startTestSimulator({ pageSize: 3 });
    try {
      const first = await paged.call("GET", `${paged.sim.blobBase}/API/V1.0/Machines?$orderby=id&$top=5`);
      const body = first.json as { value: Json[]; "@odata.nextLink": string };
      expect(body.value).toHaveLength(3);
      expect(body["@odata.nextLink"]).toBe(
        `${paged.sim.blobBase}/API/V1.0/Machines?$orderby=id&$top=2&$skip=3`,
      );
      const second = await paged.call("GET", body["@odata.nextLink"]);
      const secondBody = second.json as { value: Json[]; "@odata.nextLink"?: string };
      expect(secondBody.value).toHaveLength(2);
      expect(secondBody["@odata.nextLink"]).toBeUndefined();
      const ids = [...body.value, ...secondBody.value].map((m) => m.id as string);
      expect(ids).toEqual([...ids].sort());
      expect(new Set(ids).size).toBe(5);
    } finally {
      await paged.close();
    }
  });

  test("machineactions: newest first, $filter, $orderby, $top as a total, $skip", async () => {
    const ids: string[] = [];
    for (const device of [FINANCE, HR, DC]) {
      const res = await t.call("POST", `/api/machines/${device}/runliveresponse`, {
        body: runScript("Get-Autoruns.ps1"),
      });
      ids.push((res.json as Json).id as string);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const all = await t.call("GET", "/api/machineactions");
    expect(all.json).toMatchObject({ "@odata.context": `${t.sim.apiBase}/api/$metadata#MachineActions` });
    expect(((all.json as Json).value as Json[]).map((a) => a.id)).toEqual([...ids].reverse());
    expect((all.json as Json)["@odata.nextLink"]).toBeUndefined();

    const page = await t.call("GET", "/api/machineactions?$orderby=creationDateTimeUtc asc&$top=2");
    const pageBody = page.json as { value: Json[]; "@odata.nextLink"?: string };
    expect(pageBody.value.map((a) => a.id)).toEqual(ids.slice(0, 2));
    expect(pageBody["@odata.nextLink"]).toBeUndefined();
    const rest = await t.call("GET", "/api/machineactions?$orderby=creationDateTimeUtc asc&$skip=2");
    expect(((rest.json as Json).value as Json[]).map((a) => a.id)).toEqual(ids.slice(2));

    const filtered = await t.call(
      "GET",
      `/api/machineactions?$filter=machineId eq '${HR}' and type eq 'LiveResponse'`,
    );
    expect(((filtered.json as Json).value as Json[]).map((a) => a.id)).toEqual([ids[1]]);
  });

  test("$top above 10,000 and unknown fields are 400 ODataError", async () => {
    for (const query of ["$top=10001", "$filter=nosuchfield eq 'x'", "$expand=commands"]) {
      const res = await t.call("GET", `/api/machineactions?${query}`);
      expect(res.status).toBe(400);
      expect(errorOf(res.json).code).toBe("ODataError");
    }
  });

  test("machines: machineTags/any(...) and startswith(computerDnsName, ...)", async () => {
    const vip = await t.call("GET", "/api/machines?$filter=machineTags/any(t: t eq 'VIP')");
    const names = ((vip.json as Json).value as Json[]).map((m) => m.computerDnsName).sort();
    expect(names).toEqual(["exec-lt-0007.contoso.com", "fin-ws-0142.contoso.com", "mac-lt-0311.contoso.com"]);
    const dc = await t.call("GET", "/api/machines?$filter=startswith(computerDnsName,'dc')");
    expect(((dc.json as Json).value as Json[]).map((m) => m.id)).toEqual([DC]);
  });
});

describe("library", () => {
  test("list, upload (multipart) and delete library files", async () => {
    const list = await t.call("GET", "/api/libraryfiles");
    expect(list.status).toBe(200);
    const listBody = list.json as { "@odata.context": string; value: Json[] };
    expect(listBody["@odata.context"]).toBe(`${t.sim.apiBase}/api/$metadata#LibraryFiles`);
    expect(listBody.value.map((f) => f.fileName)).toContain("Get-ProcessList.ps1");

    const form = new FormData();
    form.append("file", new Blob(["Get-Date\n"]), "Get-Date.ps1");
    form.append("Description", "prints the date");
    form.append("HasParameters", "false");
    const token = await t.token();
    const upload = await request(`${t.sim.apiBase}/api/libraryfiles`, {
      method: "POST",
      body: form,
      headers: { authorization: `Bearer ${token}` },
      dispatcher: t.dispatcher,
    });
    expect(upload.statusCode).toBe(200);
    expect(await upload.body.json()).toMatchObject({
      "@odata.context": `${t.sim.apiBase}/api/$metadata#LibraryFiles/$entity`,
      fileName: "Get-Date.ps1",
      description: "prints the date",
      hasParameters: false,
    });
    expect((await t.call("DELETE", "/api/libraryfiles/Get-Date.ps1")).status).toBe(204);
    const gone = await t.call("DELETE", "/api/libraryfiles/Get-Date.ps1");
    expect(gone.status).toBe(404);
  });
});

describe("startSimulator", () => {
  test("connection info names the scenario's tenant and first app; close removes its own CA directory", async () => {
    const own = await startTestSimulator();
    const info = own.sim.connectionInfo();
    expect(info).toEqual({
      apiBase: `https://localhost:${own.sim.port}`,
      authorityHost: `https://localhost:${own.sim.port}`,
      tenantId: "064c8ffa-2738-5bb4-83e6-a15884762397",
      clientId: "23a5e67d-682f-5b84-ae28-54f0aa43ab07",
      clientSecret: expect.any(String),
      caFile: expect.stringMatching(/ca\.pem$/),
    });
    expect(own.sim.blobBase).toBe(`https://127.0.0.1:${own.sim.port}`);
    expect(existsSync(info.caFile)).toBe(true);
    await own.close();
    expect(existsSync(info.caFile)).toBe(false);
  });
});
