import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DefenderClient } from "../../src/defender/defenderClient.js";
import { InvalidInputError } from "../../src/defender/errors.js";
import { filter } from "../../src/defender/odataQuery.js";
import {
  DEVICES,
  OTHER_SCRIPT,
  SCRIPT,
  rejectionOf,
  startClientFixture,
  waitForFinal,
  type ClientFixture,
} from "./clientFixture.js";

let fx: ClientFixture;
let client: DefenderClient;

beforeAll(async () => {
  fx = await startClientFixture();
  client = fx.client();
});

afterAll(async () => {
  await fx.close();
});

beforeEach(() => {
  fx.t.sim.reset();
});

function totalCalls(): number {
  return Object.values(fx.t.sim.stats().calls).reduce((a, b) => a + b, 0);
}

describe("runLiveResponse", () => {
  it("sends the documented wire body and returns the new Pending action", async () => {
    const comment = `triage ${randomUUID()}`;
    const action = await client.runLiveResponse(DEVICES.finance.toUpperCase(), {
      commands: [
        { type: "RunScript", scriptName: SCRIPT, args: "-Full" },
        { type: "RunScript", scriptName: OTHER_SCRIPT },
        { type: "GetFile", path: "C:\\Windows\\Temp\\IR\\EventLogs.zip" },
      ],
      comment,
    });
    expect(action).toMatchObject({
      type: "LiveResponse",
      status: "Pending",
      machineId: DEVICES.finance,
      requestorComment: comment,
    });
    expect(action.commands.map((c) => [c.index, c.commandStatus, c.command])).toEqual([
      [
        0,
        "Created",
        {
          type: "RunScript",
          params: [
            { key: "ScriptName", value: SCRIPT },
            { key: "Args", value: "-Full" },
          ],
        },
      ],
      // Args is left out when there are none.
      [1, "Created", { type: "RunScript", params: [{ key: "ScriptName", value: OTHER_SCRIPT }] }],
      [
        2,
        "Created",
        { type: "GetFile", params: [{ key: "Path", value: "C:\\Windows\\Temp\\IR\\EventLogs.zip" }] },
      ],
    ]);
    expect(fx.t.sim.stats().calls.runliveresponse).toBe(1);
  });

  it("rejects commands out of the API's order before sending anything", async () => {
    const error = await rejectionOf(
      client.runLiveResponse(DEVICES.finance, {
        commands: [
          { type: "GetFile", path: "C:\\x" },
          { type: "RunScript", scriptName: SCRIPT },
        ],
        comment: "x",
      }),
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe("commands");
    expect(totalCalls()).toBe(0);
  });

  it("rejects empty commands, an empty script name and an empty comment before sending anything", async () => {
    const cases: Array<[Parameters<DefenderClient["runLiveResponse"]>[1], string]> = [
      [{ commands: [], comment: "x" }, "commands"],
      [{ commands: [{ type: "RunScript", scriptName: "" }], comment: "x" }, "commands[0].script_name"],
      [{ commands: [{ type: "PutFile", fileName: "a.ps1" }], comment: "  " }, "comment"],
    ];
    for (const [request, field] of cases) {
      const error = await rejectionOf(client.runLiveResponse(DEVICES.finance, request));
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).toBe(field);
    }
    expect(totalCalls()).toBe(0);
  });
});

describe("reads", () => {
  it("follows an action to its final status with getMachineAction", async () => {
    const submitted = await client.runLiveResponse(DEVICES.hr, {
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: `poll ${randomUUID()}`,
    });
    const done = await waitForFinal(client, submitted.id);
    expect(done.id).toBe(submitted.id);
    expect(done.status).toBe("Succeeded");
    expect(done.commands[0]?.commandStatus).toBe("Completed");
    expect(done.commands[0]?.endTime).not.toBeNull();
    expect(done.lastUpdateDateTimeUtc).not.toBeNull();
  });

  it("lists machine actions with a filter", async () => {
    const devices = [DEVICES.finance, DEVICES.hr, DEVICES.dc];
    for (const device of devices) {
      await client.runLiveResponse(device, {
        commands: [{ type: "RunScript", scriptName: SCRIPT }],
        comment: `list ${randomUUID()}`,
      });
    }
    const all = await client.listMachineActions({ filter: filter.eq("type", "LiveResponse") });
    expect(all.complete).toBe(true);
    expect(all.items.map((a) => a.machineId).sort()).toEqual([...devices].sort());
    expect(fx.t.sim.stats().calls.listMachineActions).toBe(1);

    const one = await client.listMachineActions({ filter: filter.eq("machineId", DEVICES.hr) });
    expect(one.items.map((a) => a.machineId)).toEqual([DEVICES.hr]);
  });

  it("pages through @odata.nextLink when the server's page size cuts a list, and treats top as a total", async () => {
    const paged = await startClientFixture({ pageSize: 1 });
    try {
      const pagedClient = paged.client();
      const devices = [DEVICES.finance, DEVICES.hr, DEVICES.dc];
      for (const device of devices) {
        await pagedClient.runLiveResponse(device, {
          commands: [{ type: "RunScript", scriptName: SCRIPT }],
          comment: `pages ${randomUUID()}`,
        });
      }
      const all = await pagedClient.listMachineActions();
      expect(all.complete).toBe(true);
      expect(all.items.map((a) => a.machineId).sort()).toEqual([...devices].sort());
      expect(paged.t.sim.stats().calls.listMachineActions).toBe(3);

      const two = await pagedClient.listMachineActions({ top: 2 });
      expect(two).toMatchObject({ complete: true });
      expect(two.items).toHaveLength(2);
      expect(paged.t.sim.stats().calls.listMachineActions).toBe(5);

      const capped = await pagedClient.listMachineActions({ maxPages: 1 });
      expect(capped.items).toHaveLength(1);
      expect(capped.complete).toBe(false);
      expect(paged.t.sim.stats().calls.listMachineActions).toBe(6);
    } finally {
      await paged.close();
    }
  });

  it("cancels a pending action", async () => {
    const pending = await client.runLiveResponse(DEVICES.offlineKiosk, {
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: `cancel ${randomUUID()}`,
    });
    const cancelled = await client.cancelMachineAction(pending.id, "no longer needed");
    expect(cancelled).toMatchObject({
      id: pending.id,
      status: "Cancelled",
      cancellationComment: "no longer needed",
    });
    expect(fx.t.sim.stats().calls.cancelMachineAction).toBe(1);
  });

  it("gets a result download link with its expiry", async () => {
    const submitted = await client.runLiveResponse(DEVICES.appServer, {
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: `link ${randomUUID()}`,
    });
    await waitForFinal(client, submitted.id);
    const link = await client.getLiveResponseResultDownloadLink(submitted.id, 0);
    expect(link.url.protocol).toBe("https:");
    expect(link.url.searchParams.get("sig")).toBeTruthy();
    expect(link.expiresAt).toBeInstanceOf(Date);
    expect(link.expiresAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it("lists and gets machines", async () => {
    const all = await client.listMachines();
    expect(all.items.length).toBeGreaterThan(5);
    const named = await client.listMachines({ filter: filter.startsWith("computerDnsName", "fin-ws") });
    expect(named.items.map((m) => m.id)).toEqual([DEVICES.finance]);
    const machine = await client.getMachine(DEVICES.finance.toUpperCase());
    expect(machine).toMatchObject({ id: DEVICES.finance, computerDnsName: "fin-ws-0142.contoso.com" });
  });

  it("lists the library", async () => {
    const library = await client.listLibraryFiles();
    expect(library.complete).toBe(true);
    expect(library.items.map((f) => f.fileName)).toContain(SCRIPT);
    expect(library.items.every((f) => typeof f.hasParameters === "boolean")).toBe(true);
  });

  it("finds the actions a comment tag names, on one device, since a time", async () => {
    const since = new Date(Date.now() - 60_000);
    const tag = `[req:${randomUUID()}]`;
    const tagged = await client.runLiveResponse(DEVICES.fileServer, {
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: `triage ${tag}`,
    });
    await client.runLiveResponse(DEVICES.dc, {
      commands: [{ type: "RunScript", scriptName: SCRIPT }],
      comment: `other ${tag}`,
    });
    const found = await client.findLiveResponseActionsByComment(DEVICES.fileServer, tag, since);
    expect(found.map((a) => a.id)).toEqual([tagged.id]);
    expect(await client.findLiveResponseActionsByComment(DEVICES.fileServer, "[req:none]", since)).toEqual(
      [],
    );
  });
});

describe("input checks", () => {
  it("rejects a bad machine id or action id with the field name and makes no request", async () => {
    const checks: Array<[Promise<unknown>, string]> = [
      [
        client.runLiveResponse("not-a-device", {
          commands: [{ type: "RunScript", scriptName: SCRIPT }],
          comment: "x",
        }),
        "machine_id",
      ],
      [client.getMachine("12345"), "machine_id"],
      [client.findLiveResponseActionsByComment("zz", "tag", new Date()), "machine_id"],
      [client.getMachineAction("../machines"), "action_id"],
      [client.cancelMachineAction("1234", "x"), "action_id"],
      [client.getLiveResponseResultDownloadLink("x y", 0), "action_id"],
      [client.getLiveResponseResultDownloadLink(randomUUID(), -1), "command_index"],
    ];
    for (const [call, field] of checks) {
      const error = await rejectionOf(call);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).toBe(field);
      expect(error.message).toContain(field);
    }
    expect(totalCalls()).toBe(0);
    expect(fx.t.sim.stats().tokens.issued).toBe(0);
  });
});

describe("configuration", () => {
  it("refuses an http: API base URL", () => {
    expect(() => fx.client({ apiBaseUrl: fx.t.sim.apiBase.replace("https:", "http:") })).toThrow(
      /must use https:/,
    );
  });
});
