import { describe, expect, it } from "vitest";
import { MachineActionSchema } from "../../src/defender/schemas.js";
import { actionProgress } from "../../src/tools/followActions.js";

const action = (status: string, commandStatuses: string[]) =>
  MachineActionSchema.parse({
    id: "5778a71b-904e-46d4-b7e7-4760a2e68547",
    type: "LiveResponse",
    status,
    machineId: "9d663375e3e46799a6657b0c0c74b873c9fcd069",
    commands: commandStatuses.map((commandStatus, index) => ({
      index,
      commandStatus,
      errors: [],
      command: { type: "RunScript", params: [] },
    })),
  });

describe("actionProgress", () => {
  it("grows from Pending through each completed command to final", () => {
    const steps = [
      action("Pending", ["Created", "Created"]),
      action("InProgress", ["Created", "Created"]),
      action("InProgress", ["Completed", "Created"]),
      action("Succeeded", ["Completed", "Completed"]),
    ].map(actionProgress);
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(1);
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThan(steps[i - 1]!);
  });

  it("counts every final status as done, whatever its commands", () => {
    for (const status of ["Failed", "TimeOut", "Cancelled"]) {
      expect(actionProgress(action(status, ["Failed", "Created"]))).toBe(1);
    }
  });
});
