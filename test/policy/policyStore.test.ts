import { EventEmitter, once } from "node:events";
import { mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PolicyError } from "../../src/policy/policyError.js";
import type { Policy } from "../../src/policy/policySchema.js";
import { DEFAULT_POLICY } from "../../src/policy/policySchema.js";
import { PolicyStore } from "../../src/policy/policyStore.js";

/** A real pino logger whose lines the test reads back, and waits for. */
function capturedLogger() {
  const lines: Array<{ level: number; msg: string; problems?: string[] }> = [];
  const events = new EventEmitter();
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString()) as (typeof lines)[number];
      lines.push(line);
      events.emit("line", line);
      done();
    },
  });
  const logger = pino({ level: "info" }, stream);
  const next = async (match: (line: (typeof lines)[number]) => boolean) => {
    const seen = lines.find(match);
    if (seen) return seen;
    for (;;) {
      const [line] = (await once(events, "line")) as [(typeof lines)[number]];
      if (match(line)) return line;
    }
  };
  return { logger, lines, next };
}

const STAT_INTERVAL_MS = 20;

describe("PolicyStore", () => {
  let dir: string;
  let file: string;
  let store: PolicyStore | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "policy-store-"));
    file = join(dir, "policy.yaml");
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const nextPolicy = (s: PolicyStore) =>
    new Promise<Policy>((resolve) => {
      const off = s.onChange((p) => {
        off();
        resolve(p);
      });
    });

  it("without a file, holds the default policy", async () => {
    const { logger } = capturedLogger();
    store = await PolicyStore.open({ file: undefined, logger });
    expect(store.current()).toBe(DEFAULT_POLICY);
    expect(store.sha256).toBeUndefined();
  });

  it("refuses to start from a broken file: there is no previous policy to keep", async () => {
    await writeFile(file, "read_only: maybe\n");
    const { logger } = capturedLogger();
    await expect(PolicyStore.open({ file, logger })).rejects.toBeInstanceOf(PolicyError);
  });

  it("picks up an edit without a restart", async () => {
    await writeFile(file, "read_only: false\n");
    const { logger, next } = capturedLogger();
    store = await PolicyStore.open({ file, logger, statIntervalMs: STAT_INTERVAL_MS });
    const before = store.sha256;
    expect(store.current().read_only).toBe(false);

    const changed = nextPolicy(store);
    await writeFile(file, "read_only: true\n");
    expect((await changed).read_only).toBe(true);
    expect(store.current().read_only).toBe(true);
    expect(store.sha256).not.toBe(before);
    expect(await next((l) => l.msg === "policy reloaded")).toMatchObject({ level: 30 });
  });

  it("picks up a file replaced by rename, as editors save", async () => {
    await writeFile(file, "approval: none\n");
    const { logger } = capturedLogger();
    store = await PolicyStore.open({ file, logger, statIntervalMs: STAT_INTERVAL_MS });
    const changed = nextPolicy(store);
    await writeFile(join(dir, "policy.yaml.tmp"), "approval: all\n");
    await rename(join(dir, "policy.yaml.tmp"), file);
    expect((await changed).approval).toBe("all");
  });

  it("keeps the previous policy when an edit is broken, logs why, and takes the next good edit", async () => {
    await writeFile(file, "scripts: [ { name: A.ps1 } ]\n");
    const { logger, next, lines } = capturedLogger();
    store = await PolicyStore.open({ file, logger, statIntervalMs: STAT_INTERVAL_MS });
    const good = store.current();

    await writeFile(file, "scripts: [ { name: A.ps1, sha256: nope } ]\n");
    const logged = await next((l) => l.msg.startsWith("policy file not reloaded"));
    expect(logged.level).toBe(50);
    expect(logged.problems).toEqual([
      "scripts[0].sha256 (line 1): expected 64 hex characters (the library file's sha256)",
    ]);
    expect(store.current()).toBe(good);

    await unlink(file);
    await next(
      (l) => l.msg.startsWith("policy file not reloaded") && l.problems?.[0]?.includes("ENOENT") === true,
    );
    expect(store.current()).toBe(good);

    const changed = nextPolicy(store);
    await writeFile(file, "scripts: [ { name: B.ps1 } ]\n");
    expect((await changed).scripts?.map((s) => s.name)).toEqual(["B.ps1"]);
    // Each broken content is logged once, however many times the file is looked at.
    expect(lines.filter((l) => l.problems?.[0]?.includes("sha256") === true)).toHaveLength(1);
  });

  it("stops watching on close", async () => {
    await writeFile(file, "read_only: false\n");
    const closed = await PolicyStore.open({
      file,
      logger: capturedLogger().logger,
      statIntervalMs: STAT_INTERVAL_MS,
    });
    let changes = 0;
    closed.onChange(() => (changes += 1));
    await closed.close();
    // A store still open watches the same file: once it has seen the edit, the closed one would have too.
    store = await PolicyStore.open({
      file,
      logger: capturedLogger().logger,
      statIntervalMs: STAT_INTERVAL_MS,
    });
    const seen = nextPolicy(store);
    await writeFile(file, "read_only: true\n");
    expect((await seen).read_only).toBe(true);
    expect(closed.current().read_only).toBe(false);
    expect(changes).toBe(0);
  });
});
