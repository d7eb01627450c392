import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../src/defender/errors.js";
import { assertActionId, assertCommandIndex, assertMachineId } from "../../src/defender/ids.js";

function rejection(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error("expected an InvalidInputError");
}

describe("assertMachineId", () => {
  it("accepts 40 hex characters in any case and returns them lower-cased", () => {
    expect(assertMachineId("ABCDEF0123456789abcdef0123456789ABCDEF01")).toBe(
      "abcdef0123456789abcdef0123456789abcdef01",
    );
  });

  it("names the field, the problem and the expected form", () => {
    const error = rejection(() => assertMachineId("1234"));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.field).toBe("machine_id");
    expect(error.message).toContain("machine_id");
    expect(error.message).toContain("40 hexadecimal characters");
    expect(error.message).toContain('"1234"');
  });

  it("uses the caller's field name", () => {
    expect(rejection(() => assertMachineId(42, "machine_ids[3]")).field).toBe("machine_ids[3]");
  });

  it("rejects non-hex, wrong lengths, and non-strings", () => {
    for (const bad of [
      "g".repeat(40),
      "a".repeat(39),
      "a".repeat(41),
      ` ${"a".repeat(40)}`,
      null,
      undefined,
      7,
      ["a"],
    ]) {
      expect(() => assertMachineId(bad)).toThrow(InvalidInputError);
    }
  });

  it("does not echo a huge value", () => {
    const huge = "x".repeat(100_000);
    const error = rejection(() => assertMachineId(huge));
    expect(error.message.length).toBeLessThan(300);
    expect(error.message).toContain("100000 characters");
  });
});

describe("assertActionId", () => {
  it("accepts a GUID as given", () => {
    expect(assertActionId("7F7D4A1C-2b4e-4b6a-9c1d-0e2f3a4b5c6d")).toBe(
      "7F7D4A1C-2b4e-4b6a-9c1d-0e2f3a4b5c6d",
    );
  });

  it("rejects anything else, naming action_id", () => {
    for (const bad of [
      "",
      "7f7d4a1c2b4e4b6a9c1d0e2f3a4b5c6d",
      "{7f7d4a1c-2b4e-4b6a-9c1d-0e2f3a4b5c6d}",
      "../x",
      5,
    ]) {
      const error = rejection(() => assertActionId(bad));
      expect(error.field).toBe("action_id");
      expect(error.message).toContain("GUID");
    }
  });
});

describe("assertCommandIndex", () => {
  it("accepts whole numbers from 0", () => {
    expect(assertCommandIndex(0)).toBe(0);
    expect(assertCommandIndex(12)).toBe(12);
  });

  it("rejects negatives, fractions, NaN and strings", () => {
    for (const bad of [-1, 1.5, Number.NaN, "1", Infinity]) {
      const error = rejection(() => assertCommandIndex(bad));
      expect(error.field).toBe("command_index");
    }
  });
});
