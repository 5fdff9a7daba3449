import { randomName } from './support/env';
import { streamingTenant, type StreamingTenant } from './support/streaming';

const PROMETHEUS = process.env.STRANGLER_TEST_PROMETHEUS_URL;
if (!PROMETHEUS) console.warn(`observe e2e skipped: no Prometheus in the test stack (${process.env.STRANGLER_TEST_NO_PROMETHEUS ?? 'unknown reason'})`);
const observed = PROMETHEUS ? describe : describe.skip;

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
}

async function prom<T>(path: string): Promise<T> {
  const res = await fetch(`${PROMETHEUS}${path}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error}`);
  return body.data;
}

const query = async (q: string) => (await prom<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;
const alertsOf = async (name: string, connector: string) => (await prom<{ alerts: Alert[] }>('/api/v1/alerts')).alerts.filter((a) => a.labels.alertname === name && a.labels.connector === connector);

/** Polls until `check` gives a value, every second; the time it took with it. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return { value: v, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The stack with --observe, as the integration tests start it: Prometheus
 * scrapes the cdc exporter and the JMX agents and evaluates the shipped
 * rules. A tenant's connector is stopped through Connect's REST API, as an
 * operator (or an accident) would: StranglerConnectorNotRunning goes pending,
 * then fires once its `for` (1 minute) has passed, and resolves once the
 * connector runs again.
 */
observed('observe: the shipped alerts in a real Prometheus', () => {
  let t: StreamingTenant;

  beforeAll(async () => {
    t = await streamingTenant(randomName('obs'));
  });

  afterAll(async () => {
    await t?.drop();
  });

  it('fires StranglerConnectorNotRunning within its for window when a connector is stopped, and resolves after it resumes', async () => {
    const connector = `strangler-${t.tenant}`;
    // Seen running first: by the cdc exporter, and by Connect's own JMX metrics through the agent.
    await until('the exporter to report the connector running', async () => ((await query(`strangler_cdc_connector_running{connector="${connector}"} == 1`)).length === 1 ? true : undefined), 60_000);
    await until('the JMX agent to report it running', async () => ((await query(`kafka_connect_connector_status{connector="${connector}",status="running"}`)).length === 1 ? true : undefined), 60_000);
    expect(await alertsOf('StranglerConnectorNotRunning', connector)).toEqual([]);

    const stop = await fetch(`${t.connect.baseUrl}/connectors/${connector}/stop`, { method: 'PUT' });
    expect(stop.status).toBe(204);
    const stoppedAt = Date.now();
    const pending = await until('the alert to be pending', async () => (await alertsOf('StranglerConnectorNotRunning', connector)).find((a) => a.state === 'pending'), 60_000);
    const firing = await until('the alert to fire', async () => (await alertsOf('StranglerConnectorNotRunning', connector)).find((a) => a.state === 'firing'), 150_000);
    const firedAfterMs = Date.now() - stoppedAt;
    expect(firing.value.labels).toMatchObject({ severity: 'critical', tenant: t.tenant });
    // Not before its `for` (1 minute after it went pending), and within it plus a few scrape and evaluation periods (5 s each).
    expect(firedAfterMs).toBeGreaterThanOrEqual(60_000);
    expect(firedAfterMs).toBeLessThan(60_000 + 45_000);

    const resume = await fetch(`${t.connect.baseUrl}/connectors/${connector}/resume`, { method: 'PUT' });
    expect(resume.status).toBe(202);
    const resumedAt = Date.now();
    const resolved = await until('the alert to resolve', async () => ((await alertsOf('StranglerConnectorNotRunning', connector)).length === 0 ? true : undefined), 90_000);
    console.log(
      `observe: ${connector} stopped; StranglerConnectorNotRunning pending after ${(pending.ms / 1000).toFixed(1)} s, firing after ${(firedAfterMs / 1000).toFixed(1)} s (for: 1m); resumed, resolved after ${((Date.now() - resumedAt) / 1000).toFixed(1)} s`,
    );
    expect(resolved.value).toBe(true);
  }, 360_000);
});
