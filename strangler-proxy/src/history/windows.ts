/**
 * The resolutions the history keeps and how long, and the windows the charts
 * offer: each window reads the finest resolution that still covers it, so a
 * chart has at most a few hundred points.
 */
export interface Resolution {
  readonly seconds: number;
  readonly keepMs: number;
}

export const RESOLUTIONS: readonly Resolution[] = [
  { seconds: 5, keepMs: 2 * 3600_000 },
  { seconds: 60, keepMs: 2 * 86400_000 },
  { seconds: 600, keepMs: 35 * 86400_000 },
];

export const WINDOWS = { '15m': 15 * 60_000, '1h': 3600_000, '6h': 6 * 3600_000, '24h': 86400_000, '7d': 7 * 86400_000 } as const;
export type WindowName = keyof typeof WINDOWS;
export const WINDOW_NAMES = Object.keys(WINDOWS) as WindowName[];

const RESOLUTION_OF: Record<WindowName, number> = { '15m': 5, '1h': 5, '6h': 60, '24h': 600, '7d': 600 };

export interface Timeline {
  readonly window: WindowName;
  readonly resolutionS: number;
  /** Start of the first bucket and of the one after the last (ms since the epoch). */
  readonly fromMs: number;
  readonly toMs: number;
  /** Start of every bucket, oldest first. */
  readonly buckets: readonly number[];
}

export function isWindow(v: unknown): v is WindowName {
  return typeof v === 'string' && Object.hasOwn(WINDOWS, v);
}

/** The buckets of a window that ends now. */
export function timeline(window: WindowName, nowMs: number): Timeline {
  const resolutionS = RESOLUTION_OF[window];
  const step = resolutionS * 1000;
  const toMs = Math.floor(nowMs / step) * step + step;
  const fromMs = toMs - Math.ceil(WINDOWS[window] / step) * step;
  const buckets: number[] = [];
  for (let t = fromMs; t < toMs; t += step) buckets.push(t);
  return { window, resolutionS, fromMs, toMs, buckets };
}

/** Start of the bucket of one resolution that a time falls in. */
export function bucketOf(atMs: number, resolutionS: number): number {
  const step = resolutionS * 1000;
  return Math.floor(atMs / step) * step;
}
