/**
 * Sticky canary split. A client's key (tenant, user or a header value) and the
 * route id hash to a bucket in [0, 10000); the client goes to the extracted
 * service when its bucket is below percent × 100. Raising the percentage only
 * moves clients from the monolith to the service, never back and forth.
 */
export function canaryBucket(routeId: string, key: string): number {
  // FNV-1a, 32 bits: fast, stable across processes and versions, well spread.
  let h = 0x811c9dc5;
  const s = routeId + '\u0000' + key;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so neighbouring keys spread evenly.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % 10000;
}

export function inCanary(routeId: string, key: string, percent: number): boolean {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return canaryBucket(routeId, key) < Math.round(percent * 100);
}
