/**
 * An API error as the simulator puts it on the wire: HTTP status plus a code from the reference's
 * error table (§2.2). The engine returns these as values, never throws them, because every one of
 * them is an ordinary answer of the API rather than a fault of the simulator.
 */
export type EngineError = { status: number; code: string; message: string };

export type Checked<T> = { ok: true; value: T } | { ok: false; error: EngineError };

export function engineError(status: number, code: string, message: string): EngineError {
  return { status, code, message };
}

export function invalidBody(message: string): { ok: false; error: EngineError } {
  return { ok: false, error: engineError(400, "InvalidRequestBody", message) };
}

export function missingParameter(name: string, where = ""): { ok: false; error: EngineError } {
  const suffix = where ? ` ${where}` : "";
  return {
    ok: false,
    error: engineError(400, "MissingRequiredParameter", `Missing required parameter ${name}${suffix}`),
  };
}
