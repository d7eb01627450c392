import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../../scripts/ensureBuilt.js";
import { DEVICES, SCRIPT } from "../defender/clientFixture.js";
import { ServeProcess } from "../helpers/serveProcess.js";
import { startTestSimulator, type TestSimulator } from "../helpers/simulatorHarness.js";

/** The value of one series in Prometheus text, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Every sample of `metric`, keyed by its label set as printed. */
function samples(text: string, metric: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = new RegExp(`^${metric}(\\{[^}]*\\}) (\\S+)$`).exec(line);
    if (match?.[1] !== undefined) found.set(match[1], Number(match[2]));
  }
  return found;
}

/**
 * /metrics counts Defender API calls and 429s by endpoint, as the server built from settings wires
 * them (`serve --transport http`): a 429 the simulator injects is counted under the endpoint that met it.
 */
/**
 * Slower than most tests: the injected 429s last 100 scaled seconds (1.7 s real), long enough for the
 * submit to meet them however loaded the machine, yet a Retry-After the server waits out (under 120 s).
 */
const TIME_SCALE = 60;

describe("/metrics: Defender API calls and 429s by endpoint", () => {
  let t: TestSimulator;
  let server: ServeProcess;
  let agent: Client;

  beforeAll(async () => {
    await ensureBuilt();
    t = await startTestSimulator({ timeScale: TIME_SCALE });
    server = await ServeProcess.start(t.sim, {
      MDE_TIME_SCALE: String(TIME_SCALE),
    });
    agent = await server.connect({});
  }, 60_000);
  afterAll(async () => {
    await agent?.close();
    await server?.stop();
    await t?.close();
  });

  const scrape = async (): Promise<string> => (await fetch(`${server.url}/metrics`)).text();

  it("counts a submit refused with 429 under runLiveResponse, and every call under its own endpoint", async () => {
    t.sim.setFaults({ tooManyRequestsForSeconds: 100, endpoints: ["runliveresponse"] });
    const result = (await agent.callTool({
      name: "run_live_response",
      arguments: {
        machine_ids: [DEVICES.finance],
        commands: [{ type: "RunScript", script_name: SCRIPT }],
        comment: "metrics by endpoint",
        wait_seconds: 30,
      },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const stats = t.sim.stats();
    expect(stats.faultsInjected.throttled).toBeGreaterThanOrEqual(1);

    const text = await scrape();
    const submit = 'endpoint="runLiveResponse"';
    expect(sample(text, `mde_defender_api_endpoint_throttled_total{${submit}}`)).toBe(
      stats.faultsInjected.throttled,
    );
    expect(sample(text, `mde_defender_api_endpoint_calls_total{${submit},method="POST",status="429"}`)).toBe(
      stats.faultsInjected.throttled,
    );
    // Every call the simulator saw is counted once, under its endpoint.
    const calls = samples(text, "mde_defender_api_endpoint_calls_total");
    const byEndpoint = (endpoint: string) =>
      [...calls]
        .filter(([labels]) => labels.includes(`endpoint="${endpoint}"`))
        .reduce((s, [, n]) => s + n, 0);
    expect(byEndpoint("runLiveResponse")).toBe(stats.calls.runliveresponse);
    expect(byEndpoint("listMachineActions")).toBe(stats.calls.listMachineActions);
    expect(byEndpoint("getLiveResponseResultDownloadLink")).toBe(stats.calls.getResultDownloadLink);
    // No other endpoint met a 429, and the per-budget series still agree.
    expect([...samples(text, "mde_defender_api_endpoint_throttled_total").keys()]).toEqual([`{${submit}}`]);
    expect(sample(text, 'mde_defender_api_throttled_total{budget="submit"}')).toBe(
      stats.faultsInjected.throttled,
    );
    expect(sample(text, `mde_defender_api_call_duration_seconds_count{${submit}}`)).toBe(
      stats.calls.runliveresponse,
    );
  });

  it("labels calls by endpoint name only: no device or action id makes a series of its own", async () => {
    const text = await scrape();
    const labels = [...samples(text, "mde_defender_api_endpoint_calls_total").keys()];
    expect(labels.length).toBeGreaterThan(0);
    for (const set of labels) {
      expect(set).toMatch(/^\{endpoint="[A-Za-z]+",method="(GET|POST)",status="(\d{3}|none)"\}$/);
    }
    expect(text).not.toContain(DEVICES.finance);
  });
});
