// Rewrites the README's generated tables from the tool registry and the settings schema.
import { readFile, writeFile } from "node:fs/promises";
import { withGeneratedTables } from "../src/docs/readmeTables.js";

const path = new URL("../README.md", import.meta.url);
const before = await readFile(path, "utf8");
const after = withGeneratedTables(before);
if (after !== before) await writeFile(path, after);
process.stdout.write(after === before ? "README.md is up to date\n" : "README.md tables regenerated\n");
