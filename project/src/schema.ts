import { z } from 'zod';
import { TENANT_NAME } from '@strangler/common';
import { SecretSchema } from '@strangler/proxy';

/**
 * The project file, `strangler.yaml`: everything about a team's own system
 * that the toolkit needs past the proxy. One zod schema; its JSON Schema
 * (schema/strangler-project.schema.json) is generated from it.
 */

const tenantName = z.string().regex(TENANT_NAME, 'must start with a letter and hold only a-z, 0-9 and _');
const identifier = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must start with a-z and hold only a-z, 0-9, _ and -');
const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http:// or https:// URL such as http://127.0.0.1:3000');
/** `schema.table`, both plain PostgreSQL identifiers (lower-case, as an unquoted name folds). */
export const TABLE_NAME = /^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/;
const tableName = z.string().regex(TABLE_NAME, 'must be schema.table, such as public.accounts');
const column = z.string().min(1).max(63);
const port = z.number().int('must be a whole number').min(0, 'must be 0 to 65535').max(65535, 'must be 0 to 65535');

const TenantSchema = z
  .object({
    /** Where this tenant's deployment of the monolith answers. */
    monolith: httpUrl,
    /** This tenant's monolith database (PostgreSQL, logical decoding on): `{ env }`, `{ file }` or `{ value }`. */
    database: SecretSchema,
    /** The host names its clients use; the proxy tells tenants apart by them. @default ["<tenant>.localhost"] */
    hosts: z.array(z.string().min(1)).min(1, 'must list at least one host name').optional(),
  })
  .strict();

/** Proxy config sections the project file itself sets. */
const PROJECT_OWNED = new Set(['listen', 'admin', 'controlStore', 'tenants', 'services', 'routes']);

const ServiceSchema = z
  .object({
    /** Where the service answers (the proxy forwards its routes there). */
    url: httpUrl,
    /** The service's own database, where its mirror keeps the copies (multi-tenant: a tenant column in front of each key). */
    database: SecretSchema.optional(),
    /** Captured tables copied into the service's database by `strangler mirror run`. */
    mirrors: z.array(tableName).default([]),
    /** Port of the mirror's /freshness, /position and /metrics (`strangler mirror run`). @default 0 (any free port) */
    mirrorPort: port.default(0),
    /**
     * How to run the service itself (a shell command, run in the project
     * file's folder with STRANGLER_PROJECT, STRANGLER_KAFKA and PORT set):
     * `strangler up --project` runs it instead of `strangler mirror run`
     * (a service made by `strangler new service` runs its mirror in-process)
     * and waits for <url>/healthz.
     */
    command: z.string().min(1).optional(),
    /**
     * The proxy's other settings for this service, as its config file has
     * them under services.<s> (health, freshness, timeouts, breaker,
     * dryRunHeader); checked by the proxy's own rules.
     */
    proxy: z.record(z.string(), z.unknown()).optional(),
    /**
     * The domain this service takes over (write ownership: `strangler own
     * <domain> --tenant T --to service`): its tables, the ids of the routes
     * that read and write them, fence, hold, timeouts, as the proxy's
     * domains.<name> has them (its service is this one); `name` defaults to
     * the service's.
     */
    domain: z.object({ name: identifier.optional() }).catchall(z.unknown()).optional(),
  })
  .strict();

export const ProjectSchema = z
  .object({
    version: z.literal(1, 'must be 1 (the only version of the project file so far)'),
    /** Names the project (logs, consumer groups). */
    name: identifier,
    tenants: z.record(tenantName, TenantSchema).refine((t) => Object.keys(t).length > 0, 'must declare at least one tenant'),
    capture: z
      .object({
        /** Tables streamed from every tenant's database into Kafka (`<tenant>.<schema>.<table>` topics). */
        tables: z.array(tableName).min(1, 'must list at least one table'),
        /**
         * The columns that identify a row, for a table without a primary key or
         * a unique index on NOT NULL columns (a mirror needs one to apply
         * updates and deletes).
         */
        keys: z.record(tableName, z.array(column).min(1, 'must name at least one column')).default({}),
      })
      .strict(),
    services: z.record(identifier, ServiceSchema).default({}),
    proxy: z
      .object({
        listen: z.object({ host: z.string().default('127.0.0.1'), port: port.default(8080) }).strict().default({ host: '127.0.0.1', port: 8080 }),
        admin: z.object({ host: z.string().default('127.0.0.1'), port: port.default(8090) }).strict().default({ host: '127.0.0.1', port: 8090 }),
        /** The proxy's routes (its config's `routes`: ordered, first match wins); or routesFile. */
        routes: z.array(z.unknown()).optional(),
        /** A YAML file beside this one holding the routes (a list, or `{ routes: [...] }`). */
        routesFile: z.string().min(1).optional(),
        /**
         * The proxy config's other sections, as its config file has them
         * (domains, readYourWrites, capture, shadow, forwarding, log, ...);
         * checked by the proxy's own rules. The file's own sections
         * (tenants, services, routes, listen, admin) are set above.
         */
        settings: z
          .record(z.string(), z.unknown())
          .refine((o) => !Object.keys(o).some((k) => PROJECT_OWNED.has(k)), { message: `may not set ${['listen', 'admin', 'controlStore', 'tenants', 'services', 'routes'].join(', ')}: the project file sets those itself (tenants:, services:, proxy.routes, proxy.listen, proxy.admin)` })
          .optional(),
      })
      .strict()
      .refine((p) => !(p.routes !== undefined && p.routesFile !== undefined), 'set routes or routesFile, not both')
      .default({ listen: { host: '127.0.0.1', port: 8080 }, admin: { host: '127.0.0.1', port: 8090 } }),
    /** What `strangler up --project` uses instead of starting its own (each absent: started locally). */
    infrastructure: z
      .object({
        kafka: z.object({ bootstrap: z.string().min(1) }).strict().optional(),
        connect: z.object({ url: httpUrl }).strict().optional(),
        /** A PostgreSQL server for the toolkit's own databases (the proxy's control store, services without a database of their own). */
        postgres: z.object({ url: SecretSchema }).strict().optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type ProjectInput = z.input<typeof ProjectSchema>;
export type Project = z.output<typeof ProjectSchema>;
