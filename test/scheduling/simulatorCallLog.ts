import { Writable } from "node:stream";
import { pino } from "pino";
import type { Logger } from "../../src/logger.js";
import type { EndpointName } from "../../src/simulator/index.js";

/** One API call as the simulator answered it, stamped on this process's monotonic clock. */
export interface SimulatorCall {
  /** performance.now() when the simulator wrote its answer. */
  at: number;
  endpoint: EndpointName;
  /** The HTTP status answered, or "reset" when the connection was dropped. */
  status: number | "reset";
}

/**
 * Every API call the simulator answers, in order, read from the line it logs per call: the
 * simulator's stats count calls, this also says when each came and what it was told.
 */
export interface SimulatorCallLog {
  /** Give it to the simulator (SimulatorOptions.logger). */
  logger: Logger;
  readonly calls: readonly SimulatorCall[];
  /** The calls to any of `endpoints` answered within [from, to]. */
  between(endpoints: readonly EndpointName[], from: number, to: number): SimulatorCall[];
}

export function simulatorCallLog(): SimulatorCallLog {
  const calls: SimulatorCall[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const at = performance.now();
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        const record = JSON.parse(line) as {
          msg?: string;
          endpoint?: EndpointName;
          status?: number | "reset";
        };
        if (!record.msg?.startsWith("simulator api call") || record.endpoint === undefined) continue;
        calls.push({ at, endpoint: record.endpoint, status: record.status ?? 0 });
      }
      done();
    },
  });
  return {
    logger: pino({ level: "debug" }, sink),
    calls,
    between: (endpoints, from, to) => callsTo(calls, endpoints).filter((c) => c.at >= from && c.at <= to),
  };
}

/** The calls to any of `endpoints`. */
export function callsTo(
  calls: readonly SimulatorCall[],
  endpoints: readonly EndpointName[],
): SimulatorCall[] {
  return calls.filter((c) => endpoints.includes(c.endpoint));
}

/** The most of `calls` (in the order answered) that fall within one `windowMs`, wherever the window is put. */
export function maxInAnyWindow(calls: readonly SimulatorCall[], windowMs: number): number {
  let most = 0;
  for (let first = 0, last = 0; last < calls.length; last++) {
    while (calls[last]!.at - calls[first]!.at >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}
