import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { TOOLS, registerTools, toolDocs } from "../../src/tools/registry.js";
import { startToolHarness, type ToolHarness } from "./toolHarness.js";

describe("tools/list", () => {
  let h: ToolHarness;
  beforeAll(async () => {
    h = await startToolHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it("lists the five tools with their names, schemas and annotations; the snapshot fails on any drift", async () => {
    const { tools } = await h.mcp.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      "find_machines",
      "list_library_files",
      "run_live_response",
      "get_action",
      "cancel_action",
    ]);
    // Written as the repository's formatter writes JSON, so formatting the tree never makes it drift.
    const snapshot = fileURLToPath(new URL("__snapshots__/tools-list.json", import.meta.url));
    const json = await format(JSON.stringify(tools, null, 2), {
      ...(await resolveConfig(snapshot)),
      parser: "json",
    });
    await expect(json).toMatchFileSnapshot(snapshot);
  });

  it("sets all four hints on every tool, as the brief decides them", async () => {
    const { tools } = await h.mcp.listTools();
    const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
    expect(hints).toEqual({
      run_live_response: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: true,
      },
      cancel_action: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: true,
        openWorldHint: true,
      },
      get_action: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      list_library_files: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
      find_machines: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    });
  });

  it("rejects unknown input keys and describes every input field", async () => {
    const { tools } = await h.mcp.listTools();
    for (const tool of tools) {
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      expect(tool.outputSchema, tool.name).toBeDefined();
      for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${tool.name}.${field}`).toBeTruthy();
      }
    }
  });

  it("tells the model about limits, start-then-poll and that cancelling a request does not cancel the action", () => {
    const run = TOOLS.find((t) => t.name === "run_live_response")!.description;
    const get = TOOLS.find((t) => t.name === "get_action")!.description;
    for (const description of [run, get]) {
      expect(description).toContain("45 s, under the 60 s timeout");
      expect(description).toContain("Cancelling this MCP request only stops the waiting");
      expect(description).toContain("use cancel_action");
    }
    expect(run).toContain("10 a minute per tenant");
    expect(run).toContain("25 concurrent live response sessions");
    expect(run).toContain("one live response action per device at a time");
    expect(run).toContain("100 a minute, 1,500 an hour");
    expect(run).toContain("NotSubmitted");
    expect(run).toContain("status_detail");
  });

  it("describes the tools for the README from the registry", () => {
    expect(toolDocs()).toEqual(
      TOOLS.map((t) => ({
        name: t.name,
        title: t.title,
        summary: expect.stringMatching(/^[A-Z].*\.$/),
        annotations: t.annotations,
      })),
    );
    expect(toolDocs().find((d) => d.name === "list_library_files")?.summary).toBe(
      "Lists the files in the tenant's live response library: the only scripts RunScript can run and the only files PutFile can copy to a device.",
    );
  });

  it("registers only the tools a filter accepts", () => {
    const server = new McpServer({ name: "filtered", version: "0" });
    const registered = registerTools(server, {} as never, {
      include: (tool) => tool.annotations.readOnlyHint,
    });
    expect(registered).toHaveLength(3);
  });
});
