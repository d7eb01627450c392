/**
 * MDE_TIME_SCALE speeds up every duration of the server and the simulator by one factor, so tests,
 * benchmarks and demos run the real schedules (a 60 s window, a 10 min script timeout) in seconds.
 * Durations are written in real-world units everywhere and pass through here once.
 */
export function scaleMs(realMs: number, timeScale: number): number {
  if (!Number.isFinite(timeScale) || timeScale <= 0) {
    throw new RangeError(`time scale must be a positive number, got ${timeScale}`);
  }
  return realMs / timeScale;
}
