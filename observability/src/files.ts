import path from 'node:path';

/** The package's folder: the rules, JMX rules and dashboards ship as files beside the code. */
export const OBSERVABILITY_DIR = path.resolve(__dirname, '..');
export const RULE_FILES = Object.freeze([path.join(OBSERVABILITY_DIR, 'rules', 'strangler.rules.yml')]);
export const RULE_TESTS = path.join(OBSERVABILITY_DIR, 'rules', 'strangler.rules.test.yml');
export const JMX_RULES = Object.freeze({
  connect: path.join(OBSERVABILITY_DIR, 'jmx', 'kafka-connect.yml'),
  broker: path.join(OBSERVABILITY_DIR, 'jmx', 'kafka-broker.yml'),
});
export const GRAFANA_DIR = path.join(OBSERVABILITY_DIR, 'grafana');
