export { OBSERVABILITY_DIR, RULE_FILES, RULE_TESTS, JMX_RULES, GRAFANA_DIR } from './files';
export { prometheusConfig, type PrometheusSettings, type ScrapeTargets } from './prometheus-config';
export { findPrometheus, type PrometheusBinaries } from './binaries';
