/**
 * The batch the way the public tools run it, one pipeline per device: POST the action and, on a 429,
 * sleep for Retry-After and send again; then GET the action every 15 s until it is final (a 429 is
 * slept off the same way); then one result-link GET and the blob. No limiter, no shared poll.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { scaleMs } from "../src/config/time.js";
import { isFinalActionStatus } from "../src/defender/schemas.js";
import type { BatchRun } from "./batch.js";
import { BENCH_SCRIPT, type BenchTarget } from "./benchTarget.js";

const POLL_INTERVAL_SECONDS = 15;

interface NaiveApi {
  /** The JSON body of a 2xx answer; 429s are slept off and sent again, anything else throws. */
  send(method: "GET" | "POST", path: string, body?: unknown): Promise<Record<string, unknown>>;
  /** Downloads a result blob (no Authorization: the link carries its own signature). */
  download(url: string): Promise<void>;
}

function naiveApi(target: BenchTarget, token: string, dispatcher: Agent): NaiveApi {
  return {
    async send(method, path, body) {
      for (;;) {
        const res = await request(`${target.sim.apiBase}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          dispatcher,
        });
        if (res.statusCode === 429) {
          await res.body.dump();
          await sleep(Number(res.headers["retry-after"] ?? 60) * 1000);
          continue;
        }
        const json = (await res.body.json()) as Record<string, unknown>;
        if (res.statusCode >= 300)
          throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
        return json;
      }
    },
    async download(url) {
      const res = await request(url, { dispatcher });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`result blob: ${res.statusCode}`);
    },
  };
}

/** One device's pipeline; resolves with when its submit was answered, and its final status and when it was seen. */
async function naiveDevice(
  api: NaiveApi,
  machineId: string,
  pollMs: number,
): Promise<{ submittedMs: number; status: string; seenFinalMs: number }> {
  const created = await api.send("POST", `/api/machines/${machineId}/runliveresponse`, {
    Commands: [{ type: "RunScript", params: [{ key: "ScriptName", value: BENCH_SCRIPT }] }],
    Comment: `bench naive ${machineId}`,
  });
  const submittedMs = performance.now();
  const actionId = String(created.id);
  let status = String(created.status);
  while (!isFinalActionStatus(status)) {
    await sleep(pollMs);
    status = String((await api.send("GET", `/api/machineactions/${actionId}`)).status);
  }
  const seenFinalMs = performance.now();
  if (status === "Succeeded") {
    const link = await api.send(
      "GET",
      `/api/machineactions/${actionId}/GetLiveResponseResultDownloadLink(index=0)`,
    );
    await api.download(String(link.value));
  }
  return { submittedMs, status, seenFinalMs };
}

export async function runNaiveBatch(
  target: BenchTarget,
  machineIds: string[],
  timeScale: number,
): Promise<BatchRun> {
  const dispatcher = new Agent({ connect: { ca: target.sim.caCertPem } });
  try {
    const token = await target.tokenProvider.getToken();
    const api = naiveApi(target, token, dispatcher);
    const pollMs = scaleMs(POLL_INTERVAL_SECONDS * 1000, timeScale);
    const startedMs = performance.now();
    const outcomes = await Promise.all(machineIds.map((id) => naiveDevice(api, id, pollMs)));
    return {
      startedMs,
      lastSubmitMs: Math.max(...outcomes.map((o) => o.submittedMs)),
      lastFinalMs: Math.max(...outcomes.map((o) => o.seenFinalMs)),
      finalStatuses: outcomes.map((o) => o.status),
      submitFailures: 0,
    };
  } finally {
    await dispatcher.close();
  }
}
