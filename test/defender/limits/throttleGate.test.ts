import { describe, expect, it } from "vitest";
import { ThrottleGate } from "../../../src/defender/limits/throttleGate.js";

describe("ThrottleGate", () => {
  it("is open until a 429, then closed for the Retry-After", () => {
    const gate = new ThrottleGate();
    expect(gate.waitMs(0)).toBe(0);
    expect(gate.pass()).toBeUndefined();
    gate.close(100, 2_000);
    expect(gate.waitMs(100)).toBe(2_000);
    expect(gate.waitMs(1_600)).toBe(500);
    expect(gate.closedUntilAt(1_600)).toBe(2_100);
    expect(gate.waitMs(2_100)).toBe(0);
    expect(gate.closedUntilAt(2_100)).toBeNull();
  });

  it("lets one probe through after the pause and holds the rest until it has its answer", () => {
    const gate = new ThrottleGate();
    gate.close(0, 1_000);
    const probe = gate.pass();
    expect(probe).toBeDefined();
    expect(gate.probeInFlight).toBe(true);
    expect(gate.waitMs(5_000)).toBe(Infinity);
    gate.probeSettled(probe!);
    expect(gate.waitMs(5_000)).toBe(0);
    // Open again: later calls are not probes.
    expect(gate.pass()).toBeUndefined();
  });

  it("closes again when the probe meets a 429, and sends a new probe after that pause", () => {
    const gate = new ThrottleGate();
    gate.close(0, 1_000);
    const first = gate.pass()!;
    gate.close(1_050, 300);
    gate.probeSettled(first);
    expect(gate.waitMs(1_050)).toBe(300);
    const second = gate.pass();
    expect(second).toBeDefined();
    gate.probeSettled(second!);
    expect(gate.pass()).toBeUndefined();
  });

  it("keeps the longer of two pauses", () => {
    const gate = new ThrottleGate();
    gate.close(0, 5_000);
    gate.close(10, 1_000);
    expect(gate.closedUntilAt(10)).toBe(5_000);
  });
});
