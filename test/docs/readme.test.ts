import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { settingsTable, toolTable, withGeneratedTables } from "../../src/docs/readmeTables.js";
import { TOOLS } from "../../src/tools/registry.js";
import { SETTING_NAMES } from "../../src/config/settings.js";

describe("README", () => {
  it("carries the tool and configuration tables as the registry and the schema generate them (npm run docs)", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    expect(withGeneratedTables(readme)).toBe(readme);
  });

  it("the generated tables name every tool and every setting", () => {
    const tools = toolTable();
    for (const tool of TOOLS) expect(tools).toContain(`\`${tool.name}\``);
    const settings = settingsTable();
    for (const name of SETTING_NAMES) expect(settings).toContain(`\`${name}\``);
  });
});
