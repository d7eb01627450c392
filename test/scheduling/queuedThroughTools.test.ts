import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { startToolHarness, structured, type ToolHarness } from "../tools/toolHarness.js";
import { HOLDING_SCRIPT, offlineDevice, onlineDevice, schedulingScenario } from "./schedulingScenario.js";
import { actionsOnDevices, actionsTagged } from "./taggedActions.js";

type Actions = { actions: ActionEntry[] };
type OneAction = { action: ActionEntry };

const commands = [{ type: "RunScript", script_name: HOLDING_SCRIPT }];

/** Where a Queued entry says it stands, read from its status_detail as an agent reads it. */
function placeOf(entry: ActionEntry): { position: number; of: number } {
  const match = /position (\d+) of (\d+)/.exec(entry.status_detail ?? "");
  if (!match) throw new Error(`no position in: ${entry.status_detail}`);
  return { position: Number(match[1]), of: Number(match[2]) };
}

describe("Queued requests through the MCP tools: visible, cancellable, finally submitted", () => {
  let h: ToolHarness;

  beforeAll(async () => {
    h = await startToolHarness({
      sim: { scenario: schedulingScenario({ online: 2, offline: 1 }) },
      maxSessions: 1,
    });
  });
  afterAll(async () => h.close());

  const run = async (machineId: string) =>
    structured<Actions>(
      await h.call("run_live_response", {
        machine_ids: [machineId],
        commands,
        comment: "queued requests test",
        wait_seconds: 0,
      }),
    ).actions[0]!;
  const getAction = async (requestId: string, waitSeconds = 0) =>
    structured<OneAction>(await h.call("get_action", { request_id: requestId, wait_seconds: waitSeconds }))
      .action;

  it("shows each request's place, withdraws one that is never sent, and submits the other when the session frees", async () => {
    const holder = await run(offlineDevice(0));
    expect(holder.status).toBe("Pending");
    const first = await run(onlineDevice(0));
    const second = await run(onlineDevice(1));
    for (const entry of [first, second]) {
      expect(entry).toMatchObject({ status: "Queued", action_id: null, error: null });
      expect(entry.status_detail).toContain("waiting for a live response session");
    }
    expect(placeOf(first)).toEqual({ position: 1, of: 1 });
    expect(placeOf(second)).toEqual({ position: 2, of: 2 });

    // Visible: get_action by request_id says where each stands now.
    const seen = await getAction(second.request_id!);
    expect(seen).toMatchObject({ request_id: second.request_id, status: "Queued", action_id: null });
    expect(placeOf(seen)).toEqual({ position: 2, of: 2 });

    // Cancellable: cancel_action withdraws it, and the one behind nobody moves up.
    const withdrawn = structured<OneAction>(
      await h.call("cancel_action", { request_id: second.request_id }),
    ).action;
    expect(withdrawn).toMatchObject({ status: "Cancelled", action_id: null });
    expect(placeOf(await getAction(first.request_id!))).toEqual({ position: 1, of: 1 });

    // Finally submitted: the holder's cancel frees the session, and the first goes out by itself.
    await h.call("cancel_action", { action_id: holder.action_id });
    const submitted = await getAction(first.request_id!, 20);
    expect(submitted).toMatchObject({
      request_id: first.request_id,
      action_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: "Succeeded",
    });
    expect(actionsTagged(h.fx.t.sim, first.request_id!)).toEqual([submitted.action_id]);
    // The withdrawn request was never sent, not even once the session was free.
    expect(actionsTagged(h.fx.t.sim, second.request_id!)).toEqual([]);
    expect(await getAction(second.request_id!)).toMatchObject({ status: "Cancelled", action_id: null });
    expect(h.calls().runliveresponse).toBe(2);
    expect(h.fx.t.sim.stats().maxActiveSessions).toBe(1);
  });
});

describe("a batch of 25 devices through run_live_response", () => {
  /** A submit window of 1 s: the call surely answers before the next window opens. */
  const TIME_SCALE = 60;
  const BATCH = 25;
  const SUBMIT_LIMIT = 10;
  const devices = Array.from({ length: BATCH }, (_, i) => onlineDevice(i));
  let h: ToolHarness;
  let entries: ActionEntry[];
  let submitsWhenAnswered: number;

  beforeAll(async () => {
    h = await startToolHarness({
      sim: { scenario: schedulingScenario({ online: BATCH }) },
      timeScale: TIME_SCALE,
    });
    const result = await h.call("run_live_response", {
      machine_ids: devices,
      commands,
      comment: "batch test",
      wait_seconds: 0,
    });
    submitsWhenAnswered = h.calls().runliveresponse ?? 0;
    entries = structured<Actions>(result).actions;
  });
  afterAll(async () => h.close());

  it("submits the first 10 at once and returns the other 15 Queued for the submit budget, in order, each with an estimate", () => {
    expect(entries.map((e) => e.machine_id)).toEqual(devices);
    const submitted = entries.slice(0, SUBMIT_LIMIT);
    const queued = entries.slice(SUBMIT_LIMIT);
    for (const entry of submitted) expect(entry.action_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitsWhenAnswered).toBe(SUBMIT_LIMIT);
    expect(queued.map((e) => e.status)).toEqual(queued.map(() => "Queued"));
    expect(queued.map(placeOf)).toEqual(
      queued.map((_, i) => ({ position: i + 1, of: BATCH - SUBMIT_LIMIT })),
    );
    for (const entry of queued) {
      expect(entry.status_detail).toMatch(/waiting for [^;]*submit/);
      expect(entry.status_detail).toMatch(/estimated submit in about \d+ s/);
    }
  });

  it("yields 25 actions when the queued ones are followed by request_id: one per device, each tagged once, no duplicate, never more than 10 submits in a window", async () => {
    const followed = await Promise.all(
      entries
        .slice(SUBMIT_LIMIT)
        .map(
          async (entry) =>
            structured<OneAction>(
              await h.call("get_action", { request_id: entry.request_id, wait_seconds: 20 }),
            ).action,
        ),
    );
    for (const entry of followed) {
      expect(entry).toMatchObject({
        action_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        status: "Succeeded",
      });
    }
    const onDevices = actionsOnDevices(h.fx.t.sim, devices);
    const actionIds = [...entries.slice(0, SUBMIT_LIMIT), ...followed].map((e) => e.action_id);
    onDevices.forEach((device, i) => {
      expect(device.actions.map((a) => a.id)).toEqual([actionIds[i]]);
      expect(device.actions[0]!.requestIds).toEqual([entries[i]!.request_id]);
    });
    const stats = h.fx.t.sim.stats();
    expect(stats.submitsAccepted).toBe(BATCH);
    expect(stats.duplicateSubmissions).toBe(0);
    expect(stats.maxSubmitsInAnyWindow).toBeLessThanOrEqual(SUBMIT_LIMIT);
    expect(stats.throttledTotal).toBe(0);
  });
});
