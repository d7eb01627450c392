import { describe, expect, it } from "vitest";
import { MachineActionSchema } from "../../src/defender/schemas.js";
import { describeAction, describeProgress } from "../../src/liveResponse/progressMessage.js";

function action(status: string, commandStatuses: string[], name: string | null = "fin-ws-0142.contoso.com") {
  return MachineActionSchema.parse({
    id: "7f7d4a1c-2b4e-4b6a-9c1d-0e2f3a4b5c6d",
    type: "LiveResponse",
    status,
    machineId: "9d663375e3e46799a6657b0c0c74b873c9fcd069",
    computerDnsName: name,
    commands: commandStatuses.map((commandStatus, index) => ({ index, commandStatus })),
  });
}

describe("progress messages", () => {
  it("names the device and the running command", () => {
    expect(describeAction(action("InProgress", ["Created", "Created"]))).toBe(
      "fin-ws-0142.contoso.com: InProgress, command 1 of 2 running",
    );
    expect(describeAction(action("InProgress", ["Completed", "Created"]))).toBe(
      "fin-ws-0142.contoso.com: InProgress, command 2 of 2 running",
    );
    expect(describeAction(action("Succeeded", ["Completed", "Completed"]))).toBe(
      "fin-ws-0142.contoso.com: Succeeded",
    );
    expect(describeAction(action("Failed", ["Completed", "Failed", "Created"]))).toBe(
      "fin-ws-0142.contoso.com: Failed at command 2 of 3",
    );
    expect(describeAction(action("Pending", ["Created"], null))).toBe(
      "9d663375e3e46799a6657b0c0c74b873c9fcd069: Pending, waiting for the device to pick it up",
    );
  });

  it("counts final actions when following several", () => {
    expect(describeProgress([action("TimeOut", ["Failed"]), action("Cancelled", ["Created"])], 3)).toBe(
      "2 of 3 actions final; fin-ws-0142.contoso.com: TimeOut; fin-ws-0142.contoso.com: Cancelled",
    );
    expect(describeProgress([], 1)).toBe("no status read yet");
  });
});
