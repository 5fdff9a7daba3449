import type { LearnedNoise } from '../parity/noise';

/** Several workers' learned noise as one: per route and path, the times seen and the pairs sampled, summed. */
export function mergeNoise(routes: readonly string[], parts: ReadonlyArray<ReadonlyArray<{ route: string; learned: readonly unknown[] }>>): Array<{ route: string; learned: LearnedNoise[] }> {
  return routes.map((route) => {
    const byPath = new Map<string, { path: string; seen: number; samples: number; example: readonly [unknown, unknown] }>();
    let samples = 0;
    for (const part of parts) {
      const learned = (part.find((p) => p.route === route)?.learned ?? []) as LearnedNoise[];
      samples += learned[0]?.samples ?? 0;
      for (const n of learned) {
        const had = byPath.get(n.path);
        byPath.set(n.path, had ? { ...had, seen: had.seen + n.seen } : { path: n.path, seen: n.seen, samples: 0, example: n.example });
      }
    }
    return { route, learned: [...byPath.values()].map((n) => ({ ...n, samples })) };
  });
}
