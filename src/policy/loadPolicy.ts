import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { PolicyError } from "./policyError.js";
import { policyProblems } from "./policyProblems.js";
import { PolicySchema, type Policy } from "./policySchema.js";

export interface LoadedPolicy {
  policy: Policy;
  file: string;
  /** SHA-256 of the file's bytes: audit records name the exact policy that decided. */
  sha256: string;
}

/** YAML by `.yaml`/`.yml`, JSON by `.json`; anything else is refused rather than guessed. */
const FORMATS: Record<string, "core" | "json"> = { ".yaml": "core", ".yml": "core", ".json": "json" };

/** Reads and validates a policy file; throws PolicyError with every problem found. */
export async function loadPolicy(file: string): Promise<LoadedPolicy> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new PolicyError("POLICY_UNREADABLE", file, [`cannot read the file (${reason})`]);
  }
  return parsePolicy(bytes, file);
}

/**
 * Both formats go through the YAML parser (JSON with its JSON schema): one parser gives every problem
 * a line number, and refuses duplicate keys, which JSON.parse would resolve silently to the last one.
 */
export function parsePolicy(bytes: Buffer, file: string): LoadedPolicy {
  const schema = FORMATS[extname(file).toLowerCase()];
  if (schema === undefined) {
    throw new PolicyError("POLICY_INVALID", file, ["the file name must end in .yaml, .yml or .json"]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(bytes.toString("utf8"), { schema, lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      "POLICY_INVALID",
      file,
      doc.errors.map((e) => `line ${lines.linePos(e.pos[0]).line}: ${e.message.split("\n")[0]}`),
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) {
    // An empty file is more likely a save caught half-way than a wish to allow everything.
    throw new PolicyError("POLICY_INVALID", file, ["the file is empty; write {} to allow everything"]);
  }
  const parsed = PolicySchema.safeParse(value);
  if (!parsed.success)
    throw new PolicyError("POLICY_INVALID", file, policyProblems(parsed.error.issues, doc, lines));
  return { policy: parsed.data, file, sha256: createHash("sha256").update(bytes).digest("hex") };
}
