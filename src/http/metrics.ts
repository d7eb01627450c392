import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ApiCall } from "../defender/httpTransport.js";
import type { ApiLimitersSnapshot } from "../defender/limits/apiLimiters.js";
import type { SessionCounts } from "../liveResponse/sessionTracker.js";
import { TOOLS } from "../tools/registry.js";

/** How a tools/call ended, as seen on the wire. */
export type ToolCallOutcome = "ok" | "error" | "task" | "cancelled" | "protocol_error";

/** What the gauges read at scrape time; nothing is copied between scrapes. */
export interface MetricSources {
  limiters(): ApiLimitersSnapshot;
  /** The live response domain's session slots and queued requests (absent: those gauges stay empty). */
  liveResponse: { sessions(): SessionCounts; queue(): readonly unknown[] } | undefined;
  /** MCP sessions open over HTTP. */
  mcpSessions(): number;
}

const BUDGETS = ["submit", "reads"] as const;
const KNOWN_TOOLS = new Set(TOOLS.map((t) => t.name));

/**
 * The server's Prometheus metrics on a registry of its own. Counts the limiters and the live response
 * domain already keep are read from them when scraped, so the two can never disagree.
 */
export class HttpMetrics {
  readonly registry = new Registry();
  private readonly toolCalls: Counter<"tool" | "outcome">;
  private readonly approvalsPending: Gauge;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.toolCalls = new Counter({
      name: "mde_tool_calls_total",
      help: "MCP tool calls answered, by tool and outcome (ok, error: an isError result, task, cancelled, protocol_error).",
      labelNames: ["tool", "outcome"],
      registers,
    });
    this.approvalsPending = new Gauge({
      name: "mde_approvals_pending",
      help: "Requests waiting for a person's approval.",
      registers,
    });
    const limiterCounter = (name: string, help: string, read: (s: ApiLimitersSnapshot["submit"]) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["budget"],
        registers,
        collect() {
          const snapshot = sources.limiters();
          this.reset();
          for (const budget of BUDGETS) this.inc({ budget }, read(snapshot[budget]));
        },
      });
    limiterCounter(
      "mde_defender_api_calls_total",
      "Defender API calls sent, by budget: submit (runliveresponse) and reads (every other endpoint).",
      (s) => s.admitted,
    );
    limiterCounter(
      "mde_defender_api_throttled_total",
      "Defender API answers with 429 (Too Many Requests), by budget.",
      (s) => s.throttled,
    );
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const value = read();
          if (value !== undefined) this.set(value);
        },
      });
    new Gauge({
      name: "mde_defender_api_waiting",
      help: "Defender API calls waiting for their budget, by budget.",
      labelNames: ["budget"],
      registers,
      collect() {
        const snapshot = sources.limiters();
        for (const budget of BUDGETS) this.set({ budget }, snapshot[budget].queued);
      },
    });
    gauge(
      "mde_submit_window_used",
      "runliveresponse calls in the current sliding window.",
      () => sources.limiters().submit.windows[0]?.occupied,
    );
    gauge(
      "mde_submit_window_limit",
      "runliveresponse calls allowed in one sliding window.",
      () => sources.limiters().submit.windows[0]?.limit,
    );
    gauge(
      "mde_live_response_sessions_in_use",
      "Live response sessions held by this server's actions.",
      () => sources.liveResponse?.sessions().inUse,
    );
    gauge(
      "mde_live_response_sessions_max",
      "Live response sessions this server keeps under.",
      () => sources.liveResponse?.sessions().max,
    );
    gauge(
      "mde_live_response_queue_depth",
      "Requests queued here, not yet submitted.",
      () => sources.liveResponse?.queue().length,
    );
    gauge("mde_mcp_sessions", "MCP sessions open over HTTP.", () => sources.mcpSessions());
  }

  recordToolCall(tool: string, outcome: ToolCallOutcome): void {
    // Tool names come from clients: an unknown one must not grow a new time series.
    this.toolCalls.inc({ tool: KNOWN_TOOLS.has(tool) ? tool : "unknown", outcome });
  }

  /** For the approval flow: how many requests wait for a person now. */
  setApprovalsPending(count: number): void {
    this.approvalsPending.set(count);
  }

  /** The text exposition format. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Defender API calls by endpoint, fed by the API client's observer (`onApiCall`). The client exists
 * before the HTTP server and its registry, so these are made first and joined to that registry once
 * it exists: no call, not even the start's reconciliation, goes uncounted.
 */
export class ApiCallMetrics {
  private readonly calls = new Counter({
    name: "mde_defender_api_endpoint_calls_total",
    help: "Defender API calls sent, by endpoint, method and HTTP status (status 'none': no response came).",
    labelNames: ["endpoint", "method", "status"] as const,
    registers: [],
  });
  private readonly throttled = new Counter({
    name: "mde_defender_api_endpoint_throttled_total",
    help: "Defender API answers with 429 (Too Many Requests), by endpoint.",
    labelNames: ["endpoint"] as const,
    registers: [],
  });
  private readonly duration = new Histogram({
    name: "mde_defender_api_call_duration_seconds",
    help: "Time from sending a Defender API call until its response headers arrived, by endpoint.",
    labelNames: ["endpoint"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [],
  });

  /** The observer to hand the API client. */
  readonly record = (call: ApiCall): void => {
    const { endpoint, method } = call;
    this.calls.inc({ endpoint, method, status: call.status === null ? "none" : String(call.status) });
    if (call.status === 429) this.throttled.inc({ endpoint });
    this.duration.observe({ endpoint }, call.durationMs / 1000);
  };

  registerIn(registry: Registry): void {
    for (const metric of [this.calls, this.throttled, this.duration]) registry.registerMetric(metric);
  }
}
