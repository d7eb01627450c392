import { freePort } from "../../scripts/freePort.js";
import { defaultScenario } from "../../src/simulator/defaultScenario.js";
import { startStdioConsole, type ConsoleHarness } from "./consoleHarness.js";

/** The app role the demo tenant gives its reviewer, which the console is told to require. */
export const REVIEWER_ROLE = "LiveResponse.Reviewer";

function demoUser(upn: string): { upn: string; password: string } {
  const user = defaultScenario().users.find((u) => u.upn === upn);
  if (user === undefined) throw new Error(`the demo tenant has no user ${upn}`);
  return { upn: user.upn, password: user.password };
}

/** The demo tenant's people (src/simulator/defaultScenario.ts): Dana holds the reviewer role, John none. */
export const DANA = demoUser("dana@contoso.com");
export const JOHN = demoUser("jdoe@contoso.com");

/**
 * Stdio mode as `serve --simulator --review-port PORT` runs it, with reviewers signing in with Entra ID
 * (MDE_REVIEW_ENTRA, MDE_REVIEW_ENTRA_ROLE) at the embedded simulator's demo tenant. The port is chosen
 * first: the console's public URL, which Entra sends the browser back to, must name it.
 */
export async function startEntraConsole(policy: string): Promise<ConsoleHarness> {
  const port = await freePort();
  return startStdioConsole({
    policy,
    port,
    settings: {
      MDE_REVIEW_ENTRA: "1",
      MDE_REVIEW_PUBLIC_URL: `http://127.0.0.1:${port}`,
      MDE_REVIEW_ENTRA_ROLE: REVIEWER_ROLE,
    },
  });
}
