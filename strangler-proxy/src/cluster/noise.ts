import { DISCARD_REASONS, type DiscardReason, type LearnedNoise, type RouteNoise } from '../parity/noise';

/**
 * Several workers' learned noise as one, per route: pairs and discards
 * summed, each path's sightings summed and its rate taken over all pairs.
 * `noise` says whether any worker leaves the path out (each shadow thread
 * judges by what it learned itself).
 */
export function mergeNoise(routes: readonly string[], parts: ReadonlyArray<readonly RouteNoise[]>): RouteNoise[] {
  return routes.map((route) => {
    const byPath = new Map<string, { path: string; seen: number; noise: boolean; example: readonly [unknown, unknown] }>();
    const discarded = Object.fromEntries(DISCARD_REASONS.map((r) => [r, 0])) as Record<DiscardReason, number>;
    let pairs = 0;
    for (const part of parts) {
      const r = part.find((p) => p.route === route);
      if (!r) continue;
      pairs += r.pairs;
      for (const k of DISCARD_REASONS) discarded[k] += r.discarded[k] ?? 0;
      for (const n of r.learned) {
        const had = byPath.get(n.path);
        byPath.set(n.path, had ? { ...had, seen: had.seen + n.seen, noise: had.noise || n.noise } : { path: n.path, seen: n.seen, noise: n.noise, example: n.example });
      }
    }
    const learned: LearnedNoise[] = [...byPath.values()].map((n) => ({ path: n.path, seen: n.seen, samples: pairs, rate: pairs === 0 ? 0 : n.seen / pairs, noise: n.noise, example: n.example }));
    return { route, pairs, discarded, learned: learned.sort((a, b) => a.path.localeCompare(b.path)) };
  });
}
