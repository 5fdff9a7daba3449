import YAML from 'yaml';

/** Where Prometheus scrapes: every part of a migration that serves /metrics. */
export interface ScrapeTargets {
  /** Each proxy's admin API (host:port) and the file holding a read token for it (its /metrics needs one). */
  readonly proxies: ReadonlyArray<{ readonly address: string; readonly tokenFile: string }>;
  /** Each extracted service (host:port): its projections' /metrics. */
  readonly services: ReadonlyArray<{ readonly name: string; readonly address: string }>;
  /** `strangler cdc exporter` (host:port). */
  readonly cdcExporter: string | null;
  /** The JMX exporter agent on each Connect worker and each broker (host:port). */
  readonly connectJmx: readonly string[];
  readonly brokerJmx: readonly string[];
}

export interface PrometheusSettings {
  readonly targets: ScrapeTargets;
  readonly ruleFiles: readonly string[];
  /** @default 5 (a demo; 15 to 30 in production) */
  readonly scrapeIntervalSeconds?: number;
  /** @default the scrape interval */
  readonly evaluationIntervalSeconds?: number;
  /** Put on every series: which migration (a cluster, a region). */
  readonly externalLabels?: Readonly<Record<string, string>>;
}

/**
 * A Prometheus configuration (prometheus.yml) for these targets, one job per
 * kind, with the names the alert rules and the Grafana dashboard expect:
 * strangler-proxy, strangler-service, strangler-cdc, kafka-connect,
 * kafka-broker. The stack writes it for `--observe`; a team points its own
 * Prometheus at its own addresses with the same jobs.
 */
export function prometheusConfig(s: PrometheusSettings): string {
  const every = s.scrapeIntervalSeconds ?? 5;
  const jobs: Array<Record<string, unknown>> = [];
  const t = s.targets;
  for (const [i, p] of t.proxies.entries()) {
    // One job, one static group per proxy: each has its own token file.
    jobs.push({ job_name: 'strangler-proxy', ...(i > 0 ? { job_name: `strangler-proxy-${i + 1}` } : {}), metrics_path: '/metrics', authorization: { type: 'Bearer', credentials_file: p.tokenFile }, static_configs: [{ targets: [p.address], labels: { job: 'strangler-proxy' } }] });
  }
  if (t.services.length > 0) jobs.push({ job_name: 'strangler-service', static_configs: t.services.map((x) => ({ targets: [x.address], labels: { service: x.name } })) });
  if (t.cdcExporter !== null) jobs.push({ job_name: 'strangler-cdc', static_configs: [{ targets: [t.cdcExporter] }] });
  if (t.connectJmx.length > 0) jobs.push({ job_name: 'kafka-connect', static_configs: [{ targets: [...t.connectJmx] }] });
  if (t.brokerJmx.length > 0) jobs.push({ job_name: 'kafka-broker', static_configs: [{ targets: [...t.brokerJmx] }] });
  const doc = {
    global: {
      scrape_interval: `${every}s`,
      scrape_timeout: `${Math.max(1, Math.min(every - 1, 10))}s`,
      evaluation_interval: `${s.evaluationIntervalSeconds ?? every}s`,
      ...(s.externalLabels ? { external_labels: s.externalLabels } : {}),
    },
    rule_files: [...s.ruleFiles],
    scrape_configs: jobs,
  };
  return `# Written by strangler (observability/src/prometheus-config.ts); regenerated at every start.\n${YAML.stringify(doc)}`;
}
