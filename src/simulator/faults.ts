import { z } from "zod";
import { scaleMs } from "../config/time.js";
import { ENDPOINT_NAMES, type EndpointName } from "./endpoints.js";
import type { SimClock } from "./simClock.js";
import { seededUnitRandom } from "./mulberry32.js";

/**
 * Fault injection: the failures a client must survive without breaking its promises (no duplicate
 * submits, limits kept, secrets kept). `afterProcessing` makes an error or reset happen after the
 * request took effect, which is how a submit with an unknown outcome is produced.
 */
const rate = z.number().min(0).max(1);

export const FaultsSchema = z.strictObject({
  errorRate: rate.default(0),
  errorStatus: z.union([z.literal(500), z.literal(502), z.literal(503), z.literal(504)]).default(500),
  resetRate: rate.default(0),
  afterProcessing: z.boolean().default(false),
  malformedBodyRate: rate.default(0),
  /** Added to every targeted call, in real-world ms (divided by the time scale). */
  latencyMs: z.number().nonnegative().default(0),
  /** Every targeted call gets 429 for this many real-world seconds (divided by the time scale) from now. */
  tooManyRequestsForSeconds: z.number().nonnegative().default(0),
  tokenEndpointDown: z.boolean().default(false),
  /** Share of result blob downloads answered 503 ServerBusy by storage (links stay valid). */
  blobErrorRate: rate.default(0),
  /** Only these endpoints are affected; all when absent. */
  endpoints: z.array(z.enum(ENDPOINT_NAMES)).optional(),
  /** Makes the random rates repeatable. */
  seed: z.number().int().optional(),
});
export type Faults = z.infer<typeof FaultsSchema>;
export type FaultsInput = z.input<typeof FaultsSchema>;

export class FaultsError extends Error {
  readonly code = "INVALID_FAULTS";
}

/** What happens to one call. `failure` happens before the handler, or after it with `afterProcessing`. */
export interface FaultPlan {
  latencyMs: number;
  throttleRetryAfterMs: number | null;
  failure: { kind: "error"; status: number } | { kind: "reset" } | null;
  afterProcessing: boolean;
  /** Only applies if the call succeeds: its 2xx body is replaced with invalid JSON. */
  malformed: boolean;
}

const NO_FAULT: FaultPlan = {
  latencyMs: 0,
  throttleRetryAfterMs: null,
  failure: null,
  afterProcessing: false,
  malformed: false,
};

export class FaultInjector {
  private faults: Faults = FaultsSchema.parse({});
  private throttleUntil = 0;
  private random: () => number = Math.random;

  constructor(
    private readonly clock: SimClock,
    private readonly timeScale: number,
  ) {}

  /** Replaces the faults in force; `{}` clears them. Throws FaultsError naming the bad field. */
  set(input: unknown): Faults {
    const parsed = FaultsSchema.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
      throw new FaultsError(`invalid faults: ${issues.join("; ")}`);
    }
    this.faults = parsed.data;
    this.throttleUntil =
      this.clock.now() + scaleMs(parsed.data.tooManyRequestsForSeconds * 1000, this.timeScale);
    this.random = parsed.data.seed === undefined ? Math.random : seededUnitRandom(parsed.data.seed);
    return this.faults;
  }

  current(): Faults {
    return this.faults;
  }

  clear(): void {
    this.set({});
  }

  plan(endpoint: EndpointName): FaultPlan {
    const f = this.faults;
    if (f.endpoints !== undefined && !f.endpoints.includes(endpoint)) return NO_FAULT;
    const throttleMs = this.throttleUntil - this.clock.now();
    let failure: FaultPlan["failure"] = null;
    if (this.draw(f.resetRate)) failure = { kind: "reset" };
    else if (this.draw(f.errorRate)) failure = { kind: "error", status: f.errorStatus };
    return {
      latencyMs: scaleMs(f.latencyMs, this.timeScale),
      throttleRetryAfterMs: throttleMs > 0 ? throttleMs : null,
      failure,
      afterProcessing: f.afterProcessing,
      malformed: this.draw(f.malformedBodyRate),
    };
  }

  /** Whether this blob download fails as storage does when busy. */
  blobFails(): boolean {
    return this.draw(this.faults.blobErrorRate);
  }

  private draw(probability: number): boolean {
    return probability > 0 && this.random() < probability;
  }
}
