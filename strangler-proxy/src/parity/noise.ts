import { differencesOf, type Answer, type CompiledRules } from './compare';
import { generalise } from './json-path';

const MAX_PATHS_PER_ROUTE = 500;

export interface LearnedNoise {
  /** A generalised path (indices as [*]) where the monolith disagreed with itself. */
  readonly path: string;
  /** How many times the two monolith answers differed there. */
  readonly seen: number;
  /** Out of how many pairs of monolith answers for the route. */
  readonly samples: number;
  /** One example of the two monolith values. */
  readonly example: readonly [unknown, unknown];
}

/**
 * Noise learned per route template, as Diffy does: the monolith is asked
 * twice, and whatever differs between its own two answers cannot be held
 * against the candidate. A path is noise once seen differing, and so is
 * everything below it.
 */
export class NoiseModel {
  private readonly routes = new Map<string, { samples: number; paths: Map<string, { seen: number; example: readonly [unknown, unknown] }> }>();

  /** Learns from two answers of the monolith to the same request. */
  learn(route: string, first: Answer, second: Answer, rules: CompiledRules): void {
    const r = this.routes.get(route) ?? { samples: 0, paths: new Map() };
    this.routes.set(route, r);
    r.samples++;
    for (const d of differencesOf(first, second, rules)) {
      if (d.kind === 'status') continue; // a flapping status is an error to report, never noise
      const path = generalise(d.path);
      const known = r.paths.get(path);
      if (known) known.seen++;
      // Bounded: a body keyed by random ids must not grow the model without end.
      else if (r.paths.size < MAX_PATHS_PER_ROUTE) r.paths.set(path, { seen: 1, example: [d.primary, d.candidate] });
    }
  }

  /** The predicate compareAnswers takes, for one route. */
  predicate(route: string): (path: string) => boolean {
    const r = this.routes.get(route);
    if (!r || r.paths.size === 0) return () => false;
    const noisy = [...r.paths.keys()];
    return (path) => {
      const g = generalise(path);
      return noisy.some((n) => g === n || (g.startsWith(n) && (g[n.length] === '.' || g[n.length] === '[')));
    };
  }

  learned(route: string): LearnedNoise[] {
    const r = this.routes.get(route);
    if (!r) return [];
    return [...r.paths].map(([path, v]) => ({ path, seen: v.seen, samples: r.samples, example: v.example })).sort((a, b) => a.path.localeCompare(b.path));
  }

  routesLearned(): string[] {
    return [...this.routes.keys()];
  }
}
