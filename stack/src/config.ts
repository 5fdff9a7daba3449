import path from 'node:path';
import { z } from 'zod';
import { ConfigError, TENANT_NAME, zodIssues } from '@strangler/common';

/** The repository root: stack/src/config.ts lives two levels below it. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const port = z.number({ error: 'must be a port number' }).int('must be a port number').min(1024, 'must be between 1024 and 65535').max(65535, 'must be between 1024 and 65535');
const tenantName = z
  .string()
  .regex(TENANT_NAME, 'must start with a letter and hold only a-z, 0-9 and _ (it names a database, a replication slot and a topic prefix)');

/**
 * Everything `stack/` needs, validated once and frozen. Each field can come
 * from an environment variable (named in ENV below) or from the caller.
 */
export const StackConfigSchema = z
  .object({
    /** Logs, data folders and the state file. @default <repo>/.strangler/stack */
    stateDir: z.string().min(1),
    /** Maven-resolved jars and plugins, reused across runs and stacks. @default <repo>/.cache/stack */
    cacheDir: z.string().min(1),
    tenants: z.array(tenantName).min(1, 'needs at least one tenant').refine((t) => new Set(t).size === t.length, 'tenant names must be unique'),
    ports: z
      .object({
        postgres: port,
        kafka: port,
        kafkaController: port,
        connect: port,
        /** The first tenant's monolith listens here, the next one on +1, and so on. */
        monolithBase: port,
        /** The routing proxy in front of every monolith. */
        proxy: port,
        /** The proxy's admin API (bearer tokens; metrics, flips). */
        proxyAdmin: port,
        /** The first extracted service listens here (the messaging service). */
        extractedBase: port,
        /** With observe: Prometheus, the JMX exporter agents on the broker and on Connect, and `strangler cdc exporter`. */
        prometheus: port,
        kafkaJmx: port,
        connectJmx: port,
        cdcExporter: port,
        /** `strangler catalog serve`: the streams, their owners and consumers, for the dashboard's Streams page. */
        catalog: port,
      })
      .strict(),
    postgres: z
      .object({
        /** Set to use an existing server (it must already run with wal_level=logical); unset to run our own. */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
        /** Folder holding initdb and postgres. @default found with pg_config, then /usr/lib/postgresql/<newest>/bin */
        binDir: z.string().optional(),
        /** The OS user that runs our own instance when we are root (PostgreSQL refuses to run as root). */
        osUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a valid Linux user name'),
      })
      .strict(),
    /** Start the tenants' monolith processes as well (the demo does; some tests only need the infrastructure). */
    monoliths: z.boolean(),
    /** Register one Debezium connector per tenant database once Connect is ready. */
    connectors: z.boolean(),
    /** Also run Prometheus (with the alert rules of observability/), the JMX exporter agents and the cdc exporter (`npm start -- --observe`). */
    observe: z.boolean(),
    /** JVM heap for the broker and for the Connect worker, e.g. "768m". */
    jvmHeap: z.string().regex(/^\d+[mg]$/, 'must look like 512m or 1g'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Map<number, string>();
    for (const [name, value] of Object.entries(c.ports)) {
      const first = seen.get(value);
      if (first) ctx.addIssue({ code: 'custom', path: ['ports', name], message: `is the same port as ports.${first}` });
      else seen.set(value, name);
    }
  });

export type StackConfig = Readonly<z.infer<typeof StackConfigSchema>>;
export type StackConfigInput = {
  [K in keyof z.infer<typeof StackConfigSchema>]?: K extends 'ports' | 'postgres'
    ? Partial<z.infer<typeof StackConfigSchema>[K]>
    : z.infer<typeof StackConfigSchema>[K];
};

/** Defaults chosen away from 5432 (PostgreSQL), 3306 (MariaDB), 6379 (Redis), 5672/15672 (RabbitMQ), 1883 (Mosquitto) and 4222/8222 (NATS). */
export const DEFAULT_PORTS = Object.freeze({
  postgres: 54329,
  kafka: 19092,
  kafkaController: 19093,
  connect: 18083,
  monolithBase: 18101,
  proxy: 18080,
  proxyAdmin: 18090,
  extractedBase: 18201,
  prometheus: 19090,
  kafkaJmx: 19404,
  connectJmx: 19405,
  cdcExporter: 19406,
  catalog: 18095,
});

export const DEFAULT_TENANTS = Object.freeze(['acme', 'globex']);

/** Environment variable → config path. Documented in stack/README.md. */
export const ENV = Object.freeze({
  STRANGLER_STATE_DIR: 'stateDir',
  STRANGLER_CACHE_DIR: 'cacheDir',
  STRANGLER_TENANTS: 'tenants',
  STRANGLER_PG_PORT: 'ports.postgres',
  STRANGLER_KAFKA_PORT: 'ports.kafka',
  STRANGLER_KAFKA_CONTROLLER_PORT: 'ports.kafkaController',
  STRANGLER_CONNECT_PORT: 'ports.connect',
  STRANGLER_MONOLITH_PORT_BASE: 'ports.monolithBase',
  STRANGLER_PROXY_PORT: 'ports.proxy',
  STRANGLER_PROXY_ADMIN_PORT: 'ports.proxyAdmin',
  STRANGLER_EXTRACTED_PORT_BASE: 'ports.extractedBase',
  STRANGLER_PG_URL: 'postgres.url',
  STRANGLER_PG_BIN: 'postgres.binDir',
  STRANGLER_PG_OS_USER: 'postgres.osUser',
  STRANGLER_JVM_HEAP: 'jvmHeap',
  STRANGLER_OBSERVE: 'observe',
  STRANGLER_PROMETHEUS_PORT: 'ports.prometheus',
  STRANGLER_KAFKA_JMX_PORT: 'ports.kafkaJmx',
  STRANGLER_CONNECT_JMX_PORT: 'ports.connectJmx',
  STRANGLER_CDC_EXPORTER_PORT: 'ports.cdcExporter',
  STRANGLER_CATALOG_PORT: 'ports.catalog',
} as const);

function fromEnv(env: NodeJS.ProcessEnv): { input: StackConfigInput; sources: Map<string, string> } {
  const input: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const [name, target] of Object.entries(ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const [head, leaf] = target.split('.') as [string, string | undefined];
    let value: unknown = raw;
    if (target.startsWith('ports.')) value = /^\d+$/.test(raw) ? Number(raw) : raw;
    if (target === 'tenants') value = raw.split(',').map((t) => t.trim()).filter(Boolean);
    // 1/true/yes or 0/false/no; anything else is left as it is, for the schema to refuse with its name.
    if (target === 'observe') value = /^(1|true|yes)$/i.test(raw) ? true : /^(0|false|no)$/i.test(raw) ? false : raw;
    if (leaf === undefined) input[head] = value;
    else input[head] = { ...(input[head] as object | undefined), [leaf]: value };
    sources.set(target, name);
  }
  return { input: input as StackConfigInput, sources };
}

/**
 * Builds the stack's configuration: defaults, then environment variables, then
 * `overrides`. Every problem is reported at once, each under the name the user
 * set it by (an environment variable or a config path), then the result is frozen.
 */
export function loadStackConfig(overrides: StackConfigInput = {}, env: NodeJS.ProcessEnv = process.env): StackConfig {
  const { input: envInput, sources } = fromEnv(env);
  const merged = {
    stateDir: path.join(REPO_ROOT, '.strangler', 'stack'),
    cacheDir: path.join(REPO_ROOT, '.cache', 'stack'),
    tenants: [...DEFAULT_TENANTS],
    monoliths: true,
    connectors: true,
    observe: false,
    jvmHeap: '768m',
    ...envInput,
    ...overrides,
    ports: { ...DEFAULT_PORTS, ...envInput.ports, ...overrides.ports },
    postgres: { osUser: 'strangler-pg', ...envInput.postgres, ...overrides.postgres },
  };
  const parsed = StackConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error, merged).map((issue) => {
      const byEnv = sources.get(issue.path);
      return byEnv ? { ...issue, path: `${byEnv} (${issue.path})` } : issue;
    });
    throw new ConfigError('stack', issues);
  }
  const config = parsed.data;
  return deepFreeze({
    ...config,
    stateDir: path.resolve(config.stateDir),
    cacheDir: path.resolve(config.cacheDir),
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The port a tenant's monolith listens on. */
export function monolithPort(config: StackConfig, tenant: string): number {
  const index = config.tenants.indexOf(tenant);
  if (index < 0) throw new Error(`unknown tenant ${tenant}`);
  return config.ports.monolithBase + index;
}
