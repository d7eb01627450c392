import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DefenderClient } from "../../src/defender/defenderClient.js";
import { DefenderNetworkError } from "../../src/defender/errors.js";
import { DEVICES, SCRIPT, rejectionOf, startClientFixture, type ClientFixture } from "./clientFixture.js";

/**
 * A submit carries a `ready` check (with replicas: does this replica still hold the session slot the
 * submit needs?). It is asked as the call leaves the limiter's line and again right before the request
 * is sent, after the token is taken: a process frozen in between finds its slot gone when it runs again.
 */
let fx: ClientFixture;
let client: DefenderClient;
const request = { commands: [{ type: "RunScript" as const, scriptName: SCRIPT }], comment: "ready test" };

beforeAll(async () => {
  fx = await startClientFixture();
  client = fx.client();
});
afterAll(async () => fx.close());
beforeEach(() => fx.t.sim.reset());

const submits = () => fx.t.sim.stats().calls.runliveresponse ?? 0;

/** Ready as the call is admitted, then not (its slot lapsed meanwhile) until `restore()`. */
function lapsingReadiness(): { ready: () => boolean; answers: boolean[]; restore(): void } {
  let allowed = true;
  const answers: boolean[] = [];
  return {
    answers,
    ready() {
      answers.push(allowed);
      if (answers.length === 1) allowed = false;
      return answers.at(-1)!;
    },
    restore() {
      allowed = true;
    },
  };
}

describe("a submit's readiness", () => {
  it("found lost once admitted: the submit goes back to the line unsent, and is sent once, when ready again", async () => {
    const readiness = lapsingReadiness();
    const events: string[] = [];
    const submit = client.runLiveResponse(DEVICES.finance, request, {
      admission: {
        ready: readiness.ready,
        onAdmitted: () => events.push("admitted"),
        onReturned: () => events.push("returned"),
      },
    });
    await sleep(200);
    expect(readiness.answers.slice(0, 2)).toEqual([true, false]);
    expect(readiness.answers.length).toBeGreaterThan(3);
    expect(events).toEqual(["admitted", "returned"]);
    expect(submits()).toBe(0);
    readiness.restore();
    const action = await submit;
    expect(action.status).toBe("Pending");
    expect(submits()).toBe(1);
    expect(events).toEqual(["admitted", "returned", "admitted"]);
    expect(readiness.answers.at(-1)).toBe(true);
  });

  it("withdrawn while it waits to be ready again: never sent, and the error says so", async () => {
    const readiness = lapsingReadiness();
    const withdraw = new AbortController();
    const submit = rejectionOf(
      client.runLiveResponse(DEVICES.finance, request, {
        admission: { ready: readiness.ready, signal: withdraw.signal },
      }),
    );
    await sleep(100);
    withdraw.abort();
    const error = await submit;
    expect(error).toBeInstanceOf(DefenderNetworkError);
    expect((error as DefenderNetworkError).sent).toBe(false);
    expect(submits()).toBe(0);
  });
});
