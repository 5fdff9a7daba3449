import { Pool } from 'undici';

export interface PoolOptions {
  readonly connections: number;
  readonly connectMs: number;
  readonly headersMs: number;
  readonly bodyMs: number;
}

/**
 * Keep-alive connection pools, one per origin and timeout set, shared by every
 * config generation: a reload that keeps an upstream keeps its connections.
 */
export class Upstreams {
  private readonly pools = new Map<string, Pool>();

  get(origin: string, o: PoolOptions): Pool {
    const key = `${origin}|${o.connections}|${o.connectMs}|${o.headersMs}|${o.bodyMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: o.connections,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        connect: { timeout: o.connectMs },
        headersTimeout: o.headersMs,
        bodyTimeout: o.bodyMs,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes pools no longer named by `keep` (keys from get), after their requests finish. */
  retain(keep: (origin: string) => boolean): void {
    for (const [key, pool] of this.pools) {
      if (!keep(key.slice(0, key.indexOf('|')))) {
        this.pools.delete(key);
        void pool.close().catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => p.destroy())));
  }
}
