import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionEntry } from "../../src/tools/actionEntry.js";
import { SCRIPT } from "../defender/clientFixture.js";
import { generatedDeviceId, scenarioWith } from "../helpers/simulatorHarness.js";
import { startToolHarness, structured, type ToolHarness } from "./toolHarness.js";

interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

const DEVICES = 12;

describe("a batch through run_live_response", () => {
  let h: ToolHarness;

  beforeAll(async () => {
    // At this scale the submit window lasts 6 s: a wait of 1 s sees the first 10 submits (let go at
    // once) and not the rest, however slow the machine.
    h = await startToolHarness({ timeScale: 10, sim: { scenario: scenarioWith({ devices: DEVICES }) } });
  });
  afterAll(async () => h.close());

  it("reports one progress stream for the whole batch, and queues the devices past the submit budget", async () => {
    const machineIds = Array.from({ length: DEVICES }, (_, i) => generatedDeviceId(i));
    const progress: Progress[] = [];
    const result = await h.call(
      "run_live_response",
      {
        machine_ids: machineIds,
        commands: [{ type: "RunScript", script_name: SCRIPT }],
        comment: "batch progress test",
        wait_seconds: 1,
      },
      { onprogress: (p: Progress) => progress.push(p) },
    );
    const { actions } = structured<{ actions: ActionEntry[] }>(result);
    expect(actions.map((a) => a.machine_id)).toEqual(machineIds);
    const submitted = actions.filter((a) => a.action_id !== null);
    const queued = actions.filter((a) => a.status === "Queued");
    expect(submitted).toHaveLength(10);
    expect(queued).toHaveLength(2);
    for (const entry of queued) expect(entry.status_detail).toMatch(/submit/i);

    // One stream: counted in devices, every value larger than the last, from the first submit on.
    expect(progress.length).toBeGreaterThanOrEqual(10);
    expect(progress.every((p) => p.total === DEVICES)).toBe(true);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
    expect(progress[0]!.message).toMatch(/^1 of 12 submitted \(/);
    expect(progress.at(-1)!.message).toMatch(
      /^10 of 12 submitted \(\d+ pending, \d+ running, \d+ done\), 2 queued$/,
    );
  });
});
