/**
 * mulberry32: a tiny seeded generator of 32-bit unsigned integers. The simulator needs repeatable
 * randomness (filler text, fault sequences), not cryptographic quality.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform numbers in [0, 1) from a seed: repeatable fault sequences and replayable random tests. */
export function seededUnitRandom(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}
