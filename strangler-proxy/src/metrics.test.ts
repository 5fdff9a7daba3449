import { ProxyMetrics } from './metrics';

describe('proxy metrics', () => {
  it("replaces a service's freshness figures with each report: a tenant no longer reported loses its series, another service keeps its own", async () => {
    const m = new ProxyMetrics(false);
    m.freshness('messaging', new Map([['acme', 1500], ['globex', 0]]));
    m.freshness('billing', new Map([['acme', 250]]));
    m.freshness('messaging', new Map([['acme', 3000]]));
    const behind = (await m.render()).split('\n').filter((l) => l.startsWith('strangler_proxy_service_behind_seconds{'));
    expect(behind.sort()).toEqual(['strangler_proxy_service_behind_seconds{service="billing",tenant="acme"} 0.25', 'strangler_proxy_service_behind_seconds{service="messaging",tenant="acme"} 3']);
  });
});
