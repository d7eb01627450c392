import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/settings.js";
import { ApiKeyStore } from "../../src/http/apiKeys.js";
import {
  MCP_POST_HEADERS,
  rawRequest,
  startHttpHarness,
  TOOLS_LIST,
  writeApiKeysFile,
  type HttpHarness,
} from "./httpHarness.js";

const AGENT_KEY = randomBytes(32).toString("base64url");
const ANALYST_KEY = randomBytes(32).toString("base64url");
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("API keys (MDE_HTTP_API_KEYS_FILE)", () => {
  let dir: string;
  let h: HttpHarness;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "http-keys-"));
    const file = await writeApiKeysFile(dir, { "soc-agent": AGENT_KEY, "analyst-ide": ANALYST_KEY });
    h = await startHttpHarness({ settings: { MDE_HTTP_API_KEYS_FILE: file } });
  });
  afterAll(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("answers a request without a key with 401 and a Bearer challenge", async () => {
    const res = await rawRequest(h.mcpUrl, { method: "POST", headers: MCP_POST_HEADERS, body: TOOLS_LIST });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="mde-live-response-mcp"');
    expect(JSON.parse(res.text)).toMatchObject({ error: "invalid_request" });
  });

  it("answers a wrong key with 401 invalid_token, and never echoes it", async () => {
    const wrong = randomBytes(32).toString("base64url");
    const res = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...MCP_POST_HEADERS, ...bearer(wrong) },
      body: TOOLS_LIST,
    });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toContain('error="invalid_token"');
    expect(`${res.text}${String(res.headers["www-authenticate"])}`).not.toContain(wrong);
    await expect(h.connect(bearer(wrong))).rejects.toThrow();
  });

  it("lets a right key in, and binds the session to the key's principal", async () => {
    const { client, sessionId } = await h.connect(bearer(AGENT_KEY));
    const { tools } = await client.listTools();
    expect(tools.length).toBe(5);
    expect(h.service.server.sessions().find((s) => s.id === sessionId)?.principal).toEqual({
      kind: "api_key",
      id: "key:soc-agent",
      name: "soc-agent",
    });
  });

  it("refuses a session id presented with another principal's key (session hijack)", async () => {
    const { client, sessionId } = await h.connect(bearer(AGENT_KEY));
    const asOwner = {
      ...MCP_POST_HEADERS,
      "mcp-session-id": sessionId,
      "mcp-protocol-version": "2025-06-18",
    };
    const hijack = await rawRequest(h.mcpUrl, {
      method: "POST",
      headers: { ...asOwner, ...bearer(ANALYST_KEY) },
      body: TOOLS_LIST,
    });
    expect(hijack.status).toBe(404);
    const withoutKey = await rawRequest(h.mcpUrl, { method: "POST", headers: asOwner, body: TOOLS_LIST });
    expect(withoutKey.status).toBe(401);
    const ending = await rawRequest(h.mcpUrl, {
      method: "DELETE",
      headers: { ...asOwner, ...bearer(ANALYST_KEY) },
    });
    expect(ending.status).toBe(404);
    // The owner's session was neither used nor ended by those requests.
    expect((await client.listTools()).tools.length).toBe(5);
  });
});

describe("the API keys file", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "http-keys-file-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("accepts JSON as well as YAML", async () => {
    const file = join(dir, "keys.json");
    const sha256 = "a".repeat(64);
    await writeFile(file, JSON.stringify({ keys: [{ principal: "bot", sha256 }] }));
    const store = await ApiKeyStore.load(file);
    expect(store.size).toBe(1);
    expect(store.match("not the key")).toBeUndefined();
  });

  it("reports every problem as a ConfigError naming the file", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(
      file,
      "keys:\n  - principal: bot\n    sha256: 1234\n  - principal: bot\n    sha256: " + "b".repeat(64) + "\n",
    );
    const error = await ApiKeyStore.load(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      `MDE_HTTP_API_KEYS_FILE (${file}): keys.0.sha256: sha256 is the key's SHA-256 as 64 hex digits`,
    ]);
    const duplicate = join(dir, "duplicate.yaml");
    await writeFile(
      duplicate,
      `keys:\n  - principal: bot\n    sha256: ${"c".repeat(64)}\n  - principal: bot\n    sha256: ${"d".repeat(64)}\n`,
    );
    await expect(ApiKeyStore.load(duplicate)).rejects.toThrow('principal "bot" is listed twice');
    await expect(ApiKeyStore.load(join(dir, "missing.yaml"))).rejects.toThrow(
      "cannot read the file (ENOENT)",
    );
    await expect(ApiKeyStore.load(join(dir, "keys.txt"))).rejects.toThrow("must end in .yaml, .yml or .json");
  });
});
