import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatorTls, type SimulatorTls } from "../../src/simulator/tls.js";

let dir: string;
let tls: SimulatorTls;
let server: https.Server;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sim-tls-"));
  tls = await createSimulatorTls({ hostnames: ["simulator.test", "127.0.0.2"], dir });
  server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => {
    res.end("hello over tls");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe("createSimulatorTls", () => {
  it("writes the CA PEM to ca.pem in the given directory", async () => {
    expect(tls.caFile).toBe(join(dir, "ca.pem"));
    expect((await readFile(tls.caFile, "utf8")).trim()).toBe(tls.caCertPem.trim());
  });

  it("issues a CA certificate and a server certificate with the loopback and requested SANs", () => {
    const ca = new X509Certificate(tls.caCertPem);
    const cert = new X509Certificate(tls.certPem);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkHost("simulator.test")).toBe("simulator.test");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkIP("::1")).toBe("::1");
    expect(cert.checkIP("127.0.0.2")).toBe("127.0.0.2");
    expect(cert.checkHost("example.com")).toBeUndefined();
    expect(cert.keyUsage).toContain("1.3.6.1.5.5.7.3.1");
  });

  it("lets undici complete a real TLS handshake when the CA is trusted", async () => {
    const dispatcher = new Agent({ connect: { ca: tls.caCertPem } });
    try {
      for (const host of ["127.0.0.1", "localhost"]) {
        const res = await request(`https://${host}:${port}/`, { dispatcher });
        expect(res.statusCode).toBe(200);
        expect(await res.body.text()).toBe("hello over tls");
      }
    } finally {
      await dispatcher.close();
    }
  });

  it("lets node:https connect when the CA is trusted", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${port}/`, { ca: tls.caCertPem }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve(text));
        })
        .on("error", reject);
    });
    expect(body).toBe("hello over tls");
  });

  it("fails with a certificate error when the CA is not trusted", async () => {
    const dispatcher = new Agent();
    try {
      const err = await request(`https://127.0.0.1:${port}/`, { dispatcher }).then(
        () => undefined,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(err?.code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    } finally {
      await dispatcher.close();
    }
  });
});
