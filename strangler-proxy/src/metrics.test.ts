import { ProxyMetrics } from './metrics';

describe('proxy metrics', () => {
  it("replaces a service's freshness figures with each report: a tenant no longer reported loses its series (behind and loading), another service keeps its own", async () => {
    const m = new ProxyMetrics(false);
    const at = (behindMs: number, loading = false) => ({ behindMs, loading });
    m.freshness('messaging', new Map([['acme', at(1500)], ['globex', at(0, true)]]));
    m.freshness('billing', new Map([['acme', at(250, true)]]));
    m.freshness('messaging', new Map([['acme', at(3000)]]));
    const lines = (name: string) => m.render().then((text) => text.split('\n').filter((l) => l.startsWith(`${name}{`)).sort());
    expect(await lines('strangler_proxy_service_behind_seconds')).toEqual(['strangler_proxy_service_behind_seconds{service="billing",tenant="acme"} 0.25', 'strangler_proxy_service_behind_seconds{service="messaging",tenant="acme"} 3']);
    expect(await lines('strangler_proxy_service_loading')).toEqual(['strangler_proxy_service_loading{service="billing",tenant="acme"} 1', 'strangler_proxy_service_loading{service="messaging",tenant="acme"} 0']);
  });
});
