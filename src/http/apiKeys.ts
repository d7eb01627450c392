import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { ConfigError } from "../config/settings.js";
import type { Principal } from "./principal.js";

const PRINCIPAL_RULE = "a principal is 1-64 letters, digits or . _ @ -";
const SHA256_RULE = "sha256 is the key's SHA-256 as 64 hex digits";

/**
 * The API keys file (MDE_HTTP_API_KEYS_FILE) holds each key's SHA-256, never the key: a leaked file
 * lets nobody in. A key is random (e.g. `openssl rand -base64 32`), so an unsalted fast hash is enough.
 */
export const ApiKeysFileSchema = z.strictObject({
  keys: z
    .array(
      z.strictObject({
        principal: z.string({ error: PRINCIPAL_RULE }).regex(/^[A-Za-z0-9._@-]{1,64}$/, PRINCIPAL_RULE),
        sha256: z.string({ error: SHA256_RULE }).regex(/^[0-9a-fA-F]{64}$/, SHA256_RULE),
      }),
    )
    .min(1, "list at least one key"),
});

interface KeyEntry {
  principal: Principal;
  hash: Buffer;
}

const FORMATS: Record<string, "core" | "json"> = { ".yaml": "core", ".yml": "core", ".json": "json" };

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** Checks a presented key against every stored hash, in time that says nothing about which matched. */
export class ApiKeyStore {
  private constructor(private readonly entries: readonly KeyEntry[]) {}

  /** Reads and validates the file; a ConfigError names every problem (and never a hash). */
  static async load(file: string): Promise<ApiKeyStore> {
    const schema = FORMATS[extname(file).toLowerCase()];
    if (schema === undefined) throw keysFileError(file, ["the file name must end in .yaml, .yml or .json"]);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw keysFileError(file, [
        `cannot read the file (${(err as NodeJS.ErrnoException).code ?? "unreadable"})`,
      ]);
    }
    // One parser for both formats: it refuses duplicate keys, which JSON.parse would keep silently.
    const doc = parseDocument(text, { schema, prettyErrors: false });
    if (doc.errors.length > 0) {
      throw keysFileError(
        file,
        doc.errors.map((e) => e.message.split("\n")[0] ?? "cannot parse"),
      );
    }
    const parsed = ApiKeysFileSchema.safeParse(doc.toJS());
    if (!parsed.success) {
      throw keysFileError(
        file,
        parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`),
      );
    }
    const names = parsed.data.keys.map((k) => k.principal);
    const hashes = parsed.data.keys.map((k) => k.sha256.toLowerCase());
    const problems = [
      ...duplicates(names).map((n) => `principal "${n}" is listed twice`),
      ...(duplicates(hashes).length > 0 ? ["two entries have the same sha256: one key, two names"] : []),
    ];
    if (problems.length > 0) throw keysFileError(file, problems);
    return new ApiKeyStore(
      parsed.data.keys.map((k) => ({
        principal: { kind: "api_key", id: `key:${k.principal}`, name: k.principal },
        hash: Buffer.from(k.sha256, "hex"),
      })),
    );
  }

  get size(): number {
    return this.entries.length;
  }

  /** The key's holder, or undefined. Every entry is compared, whether or not one already matched. */
  match(presented: string): Principal | undefined {
    const digest = sha256(presented);
    let found: Principal | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(digest, entry.hash) && found === undefined) found = entry.principal;
    }
    return found;
  }
}

function keysFileError(file: string, problems: string[]): ConfigError {
  return new ConfigError(problems.map((p) => `MDE_HTTP_API_KEYS_FILE (${file}): ${p}`));
}

function duplicates(values: readonly string[]): string[] {
  return [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
}
