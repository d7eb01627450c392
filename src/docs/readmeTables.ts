import { settingsReference } from "../config/settingsReference.js";
import { TOOLS, toolDocs } from "../tools/registry.js";

/**
 * The README's tool and configuration tables, generated from the tool registry and the settings
 * schema so that the documentation cannot drift from what the server does. `npm run docs` rewrites
 * the marked regions; a test fails when they are stale.
 */

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function inputFields(name: string): string {
  const tool = TOOLS.find((t) => t.name === name);
  if (!tool) return "";
  return Object.keys(tool.inputSchema.shape)
    .map((field) => `\`${field}\``)
    .join(", ");
}

function hints(annotations: ReturnType<typeof toolDocs>[number]["annotations"]): string {
  const words = [
    annotations.readOnlyHint ? "read-only" : "changes devices",
    annotations.destructiveHint ? "destructive" : undefined,
    annotations.idempotentHint ? "idempotent" : undefined,
    annotations.openWorldHint ? "open world" : undefined,
  ];
  return words.filter(Boolean).join(", ");
}

export function toolTable(): string {
  const rows = toolDocs().map(
    (doc) =>
      `| \`${doc.name}\` | ${cell(doc.summary)} | ${inputFields(doc.name)} | ${hints(doc.annotations)} |`,
  );
  return ["| tool | what it does | input | hints |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

export function settingsTable(): string {
  const rows = settingsReference().map(
    (s) =>
      `| \`${s.name}\` | ${s.flag ? `\`${s.flag}\`` : ""} | ${s.default === undefined ? "" : `\`${cell(s.default)}\``} | ${cell(s.description)} |`,
  );
  return ["| variable | flag | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

const REGIONS = { tools: toolTable, settings: settingsTable } as const;

/** The README with every generated region (`<!-- generated:NAME -->` … `<!-- /generated:NAME -->`) rewritten. */
export function withGeneratedTables(readme: string): string {
  let text = readme;
  for (const [name, render] of Object.entries(REGIONS)) {
    const pattern = new RegExp(`(<!-- generated:${name} -->)[\\s\\S]*?(<!-- /generated:${name} -->)`);
    if (!pattern.test(text)) throw new Error(`README.md has no <!-- generated:${name} --> region`);
    text = text.replace(pattern, (_m, open: string, close: string) => `${open}\n\n${render()}\n\n${close}`);
  }
  return text;
}
