/**
 * Waits for a promise this caller shares with others, or stops waiting when the caller's signal
 * aborts; the work behind the promise goes on either way, for whoever else waits or asks later.
 */
export async function waitUnlessAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<{ done: true; value: T } | { done: false }> {
  if (signal === undefined) return { done: true, value: await promise };
  if (signal.aborted) return { done: false };
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<{ done: false }>((resolve) => {
    onAbort = () => resolve({ done: false });
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise.then((value) => ({ done: true as const, value })), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
