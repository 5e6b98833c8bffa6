/** Deterministic random numbers in [0, 1) for building workloads that repeat run to run. */
export function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
}
