import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DefenderApiError, DefenderNetworkError, InvalidInputError } from "../../src/defender/errors.js";
import type { LiveResponseService } from "../../src/liveResponse/liveResponseService.js";
import { DEVICES, SCRIPT, rejectionOf } from "../defender/clientFixture.js";
import { until } from "../helpers/until.js";
import { TEST_TIME_SCALE } from "../helpers/simulatorHarness.js";
import { startServiceFixture, type ServiceFixture } from "./serviceFixture.js";

let sf: ServiceFixture;
let service: LiveResponseService;

beforeAll(async () => {
  sf = await startServiceFixture();
});
afterAll(async () => sf.close());
beforeEach(() => {
  // A service per test: the sessions and devices it holds would outlive the simulator's reset.
  service = sf.service();
  sf.fx.t.sim.reset();
  sf.fx.t.sim.setFaults({});
});

const UNKNOWN_DEVICE = "0123456789abcdef0123456789abcdef01234567";
const runScript = [{ type: "RunScript" as const, scriptName: SCRIPT }];

describe("submit", () => {
  it("submits to one device, tags the comment with the request id and reads the device first", async () => {
    const [entry, ...rest] = await service.submit({
      machineIds: [DEVICES.finance],
      commands: runScript,
      comment: "triage of INC-1042",
    });
    expect(rest).toEqual([]);
    expect(entry!.requestId).toMatch(/^req_[0-9a-f]{12}$/);
    expect(entry!.machineId).toBe(DEVICES.finance);
    expect(entry!.machine?.computerDnsName).toBe("fin-ws-0142.contoso.com");
    expect(entry!.error).toBeUndefined();
    expect(entry!.merged).toBe(false);
    expect(entry!.action?.status).toBe("Pending");
    expect(entry!.action?.requestorComment).toBe(`triage of INC-1042 [mcp:${entry!.requestId}]`);
    expect(sf.calls()).toMatchObject({ getMachine: 1, runliveresponse: 1 });
  });

  it("submits to several devices in order, each with its own request id", async () => {
    const entries = await service.submit({
      machineIds: [DEVICES.hr, DEVICES.finance, DEVICES.dc],
      commands: runScript,
      comment: "sweep",
    });
    expect(entries.map((e) => e.machineId)).toEqual([DEVICES.hr, DEVICES.finance, DEVICES.dc]);
    expect(entries.map((e) => e.action?.machineId)).toEqual([DEVICES.hr, DEVICES.finance, DEVICES.dc]);
    expect(new Set(entries.map((e) => e.requestId)).size).toBe(3);
    for (const e of entries) expect(e.action?.requestorComment).toContain(`[mcp:${e.requestId}]`);
    expect(sf.calls().runliveresponse).toBe(3);
  });

  it("puts an unknown device's 404 in its entry, spends no submit on it, and goes on with the others", async () => {
    const entries = await service.submit({
      machineIds: [DEVICES.hr, UNKNOWN_DEVICE, DEVICES.finance],
      commands: runScript,
      comment: "sweep",
    });
    expect(entries.map((e) => e.action === undefined)).toEqual([false, true, false]);
    const missing = entries[1]!;
    expect(missing.error).toBeInstanceOf(DefenderApiError);
    expect((missing.error as DefenderApiError).status).toBe(404);
    expect((missing.error as DefenderApiError).code).toBe("ResourceNotFound");
    expect(missing.machine).toBeUndefined();
    expect(sf.calls().runliveresponse).toBe(2);
  });

  it("puts the API's refusal in the entry: a second action on a device busy elsewhere", async () => {
    const [first] = await sf.service().submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: runScript,
      comment: "first",
    });
    const [second] = await service.submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: [{ type: "RunScript", scriptName: "Get-Autoruns.ps1" }],
      comment: "second",
    });
    expect(first!.action).toBeDefined();
    expect(second!.action).toBeUndefined();
    expect(second!.error).toBeInstanceOf(DefenderApiError);
    expect((second!.error as DefenderApiError).code).toBe("ActiveRequestAlreadyExists");
    expect(sf.calls().runliveresponse).toBe(2);
  });

  it("rejects a bad device id, a repeated device, an out-of-order list and forbidden Args with zero API calls", async () => {
    const cases: Array<[Parameters<LiveResponseService["submit"]>[0], string]> = [
      [{ machineIds: [DEVICES.hr, "fin-ws-0142"], commands: runScript, comment: "x" }, "machine_ids[1]"],
      [{ machineIds: [], commands: runScript, comment: "x" }, "machine_ids"],
      [
        { machineIds: [DEVICES.hr, DEVICES.finance, DEVICES.hr], commands: runScript, comment: "x" },
        "machine_ids[2]",
      ],
      [
        {
          machineIds: [DEVICES.hr, DEVICES.finance],
          commands: [
            { type: "GetFile", path: "C:\\x.txt" },
            { type: "RunScript", scriptName: SCRIPT },
          ],
          comment: "x",
        },
        "commands",
      ],
      [
        {
          machineIds: [DEVICES.hr, DEVICES.finance],
          commands: [
            { type: "RunScript", scriptName: SCRIPT },
            { type: "RunScript", scriptName: "Get-RecentFiles.ps1", args: "-Days 1; whoami" },
          ],
          comment: "x",
        },
        "commands[1].args",
      ],
      [{ machineIds: [DEVICES.hr], commands: runScript, comment: " " }, "comment"],
    ];
    for (const [input, field] of cases) {
      const error = await rejectionOf(service.submit(input));
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).toBe(field);
    }
    expect(sf.totalCalls()).toBe(0);
  });
});

describe("merged requests", () => {
  let merging: ServiceFixture;
  beforeAll(async () => {
    // Merging is off by default (the documented 400 is the baseline); a slower clock keeps the 30 s
    // merge window (50 ms at the usual scale) wide open.
    merging = await startServiceFixture({ mergeIdenticalRequests: true, timeScale: 30 });
  });
  afterAll(async () => merging.close());

  it("marks an entry merged when the API hands back an action that lacks its tag", async () => {
    // Two servers on one tenant: one server never sends a second request to a device it keeps busy.
    const [svc, other] = [merging.service(), merging.service()];
    const commands = [{ type: "RunScript" as const, scriptName: "Long-Running.ps1" }];
    const [first] = await svc.submit({ machineIds: [DEVICES.appServer], commands, comment: "scan" });
    const [second] = await other.submit({ machineIds: [DEVICES.appServer], commands, comment: "scan" });
    expect(first!.merged).toBe(false);
    expect(second!.merged).toBe(true);
    expect(second!.action?.id).toBe(first!.action?.id);
    expect(second!.action?.requestorComment).toContain(`[mcp:${first!.requestId}]`);
    // The action belongs to the request that created it.
    const byAction = await svc.getAction(first!.action!.id);
    expect(byAction.requestId).toBe(first!.requestId);
    await svc.cancel(first!.action!.id, "test over");
  });
});

describe("getAction and cancel", () => {
  it("reads an action by request id or by action id", async () => {
    const [entry] = await service.submit({ machineIds: [DEVICES.hr], commands: runScript, comment: "x" });
    const byRequest = await service.getAction(entry!.requestId);
    expect(byRequest.requestId).toBe(entry!.requestId);
    expect(byRequest.action.id).toBe(entry!.action!.id);
    const byAction = await service.getAction(entry!.action!.id.toUpperCase());
    expect(byAction.requestId).toBe(entry!.requestId);
    expect(byAction.action.id).toBe(entry!.action!.id);
  });

  it("refuses an unknown request id, a failed request's id and a malformed action id without a call", async () => {
    const [failed] = await service.submit({
      machineIds: [UNKNOWN_DEVICE],
      commands: runScript,
      comment: "x",
    });
    const before = sf.totalCalls();
    const unknown = await rejectionOf(service.getAction("req_000000000000"));
    expect(unknown).toBeInstanceOf(InvalidInputError);
    expect((unknown as InvalidInputError).field).toBe("action_id");
    expect(unknown.message).toContain("use the action_id");
    const noAction = await rejectionOf(service.getAction(failed!.requestId));
    expect(noAction.message).toContain("has no action");
    const malformed = await rejectionOf(service.cancel("not-a-guid", "x"));
    expect((malformed as InvalidInputError).field).toBe("action_id");
    expect(sf.totalCalls()).toBe(before);
  });

  it("cancels by request id and by action id", async () => {
    const [offline] = await service.submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: runScript,
      comment: "x",
    });
    const byRequest = await service.cancel(offline!.requestId, "no longer needed");
    expect(byRequest.requestId).toBe(offline!.requestId);
    expect(byRequest.action.status).toBe("Cancelled");
    expect(byRequest.action.cancellationComment).toBe("no longer needed");

    const [online] = await service.submit({ machineIds: [DEVICES.dc], commands: runScript, comment: "x" });
    const byAction = await service.cancel(online!.action!.id, "wrong device");
    expect(byAction.requestId).toBe(online!.requestId);
    expect(byAction.action.status).toBe("Cancelled");
  });

  it("returns an action that is already final as it is: cancelling is idempotent", async () => {
    const [entry] = await service.submit({ machineIds: [DEVICES.hr], commands: runScript, comment: "x" });
    const [done] = await service.waitForFinal([entry!.action!.id], { waitMs: 10_000 });
    expect(done!.status).toBe("Succeeded");
    const late = await service.cancel(entry!.requestId, "too late");
    expect(late).toMatchObject({ requestId: entry!.requestId, alreadyFinal: true });
    expect(late.action).toMatchObject({ id: done!.id, status: "Succeeded", cancellationComment: null });
    // Defender refused the cancel (400), and the action was read to tell why.
    expect(sf.calls()).toMatchObject({ cancelMachineAction: 1 });

    const [queued] = await service.submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: runScript,
      comment: "x",
    });
    const first = await service.cancel(queued!.requestId, "first");
    const second = await service.cancel(queued!.requestId, "second");
    expect(first).toMatchObject({ alreadyFinal: false, action: { status: "Cancelled" } });
    expect(second).toMatchObject({
      alreadyFinal: true,
      action: { status: "Cancelled", cancellationComment: "first" },
    });
  });

  it("passes on any other failure of a cancel", async () => {
    const [entry] = await service.submit({
      machineIds: [DEVICES.offlineKiosk],
      commands: runScript,
      comment: "x",
    });
    sf.fx.t.sim.setFaults({ errorRate: 1, errorStatus: 500, endpoints: ["cancelMachineAction"] });
    const error = await rejectionOf(service.cancel(entry!.requestId, "refused"));
    expect(error).toBeInstanceOf(DefenderApiError);
    expect((error as DefenderApiError).status).toBe(500);
    sf.fx.t.sim.setFaults({});
    const { action } = await service.getAction(entry!.requestId);
    expect(action.status).toBe("Pending");
  });
});

describe("a cancelled request", () => {
  it("lets a submit already sent finish, and sends none of the devices still waiting their turn", async () => {
    // Each submit takes half a second to answer: long enough to cancel the request while one is under way.
    sf.fx.t.sim.setFaults({ latencyMs: 500 * TEST_TIME_SCALE, endpoints: ["runliveresponse"] });
    // One session: the second device waits for the first one's action to end.
    const oneSession = sf.service({ maxSessions: 1 });
    const controller = new AbortController();
    const submitting = oneSession.submit(
      { machineIds: [DEVICES.hr, DEVICES.finance], commands: runScript, comment: "cancelled midway" },
      { signal: controller.signal, waitMs: 60_000 },
    );
    await until(() => (sf.calls().runliveresponse ?? 0) === 1);
    controller.abort();
    const [sent, notSent] = await submitting;
    expect(sent!.error).toBeUndefined();
    expect(sent!.action?.requestorComment).toContain(`[mcp:${sent!.requestId}]`);
    expect(notSent!.action).toBeUndefined();
    expect(notSent!.error).toBeInstanceOf(DefenderNetworkError);
    expect(notSent!.error).toMatchObject({ code: "ABORTED", sent: false });
    expect(sf.calls().runliveresponse).toBe(1);
    // The request id of the submit that finished names its action.
    sf.fx.t.sim.setFaults({});
    expect((await oneSession.getAction(sent!.requestId)).action.id).toBe(sent!.action!.id);
    oneSession.close();
  });
});
