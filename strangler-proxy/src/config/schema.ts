import { z } from 'zod';
import { TENANT_NAME } from '@strangler/common';

/**
 * The proxy's one configuration schema. The YAML file is validated against it
 * (every error at once, with path and value), and the same schema is
 * published as JSON Schema (schema/proxy-config.schema.json) for editors.
 */

const httpUrl = z.string().regex(/^https?:\/\/[^/\s]+\/?$/, 'must be an origin such as http://127.0.0.1:8080 (no path)');
const port = z.number().int('must be an integer').min(0, 'must be between 0 and 65535').max(65535, 'must be between 0 and 65535');
const ms = (dflt: number) => z.number().int('must be an integer number of milliseconds').positive('must be above 0').default(dflt);
const cidr = z
  .string()
  .regex(/^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]+(\/\d{1,3})?)$/, 'must be an IP address or CIDR such as 10.0.0.0/8');
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid HTTP header name')
  .transform((h) => h.toLowerCase());
const tenantName = z.string().regex(TENANT_NAME, 'must start with a letter and hold only a-z, 0-9 and _');
const identifier = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must start with a-z and hold only a-z, 0-9, _, . and -');

export const MODES = ['monolith', 'shadow', 'canary', 'extracted'] as const;
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const STICKY_BY = ['tenant', 'user', 'header'] as const;

/** What a secret may be, said when something else is given (a plain string is the usual mistake). */
const SECRET_SHAPES = 'a secret is an object: { env: VARIABLE } (read from the environment), { file: PATH } (read from a file) or { value: "..." } (in the file itself, for local use)';

export const secret = z
  .object(
    {
      /** Read from this environment variable (preferred: secrets stay out of the file). */
      env: z.string().min(1).optional(),
      /** Read from this file (trailing newline dropped). */
      file: z.string().min(1).optional(),
      /** The secret itself, for local use only. */
      value: z.string().min(1).optional(),
    },
    { error: (iss) => (iss.code === 'invalid_type' ? `${SECRET_SHAPES}; got ${typeof iss.input === 'string' ? 'a string' : JSON.stringify(iss.input)}` : undefined) },
  )
  .strict()
  .refine((s) => [s.env, s.file, s.value].filter((v) => v !== undefined).length === 1, `must set exactly one of env, file or value (${SECRET_SHAPES})`);

/** A route's mode, the same shape for the route default and for a tenant override. */
export const modeSetting = z
  .object({
    mode: z.enum(MODES),
    /** canary only: share of requests (0-100) the extracted service serves. */
    percent: z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.mode === 'canary' && m.percent === undefined) ctx.addIssue({ code: 'custom', path: ['percent'], message: 'is required when mode is canary' });
    if (m.mode !== 'canary' && m.percent !== undefined) ctx.addIssue({ code: 'custom', path: ['percent'], message: 'only applies to mode canary' });
  });

/** A JSON path in parity rules; its syntax is checked when compiled (compilePath). */
const jsonPath = z.string().regex(/^\$/, 'must be a JSON path starting with $');

const routeSchema = z
  .object({
    id: identifier,
    match: z
      .object({
        /** One method or several; omitted means any. */
        method: z.union([z.enum(METHODS), z.array(z.enum(METHODS)).min(1)]).optional(),
        /** A path template: literal segments, :param segments, and a final * for any rest. */
        path: z.string().regex(/^\/[^\s?#]*$/, 'must start with / and hold no spaces, ? or #'),
        host: z.string().min(1).optional(),
        header: z.object({ name: headerName, value: z.string() }).strict().optional(),
      })
      .strict(),
    /** The extracted service that can serve this route (required unless every mode is monolith). */
    service: identifier.optional(),
    mode: z.enum(MODES).default('monolith'),
    percent: z.number().min(0).max(100).optional(),
    /** Per-tenant overrides of mode (and percent). */
    tenants: z.record(tenantName, modeSetting).default({}),
    canary: z
      .object({
        stickyBy: z.enum(STICKY_BY).default('tenant'),
        /** stickyBy header: the header whose value keeps a client on one side. */
        header: headerName.optional(),
      })
      .strict()
      .prefault({}),
    shadow: z
      .object({
        /**
         * Mirror writes (POST/PUT/PATCH/DELETE) too. Only allowed when the
         * service declares dryRunHeader: it must then roll the write back.
         */
        mirrorWrites: z.boolean().default(false),
        /** Share of this route's mirrorable requests copied (0-1); the top-level shadow.sampleRate when absent. */
        sampleRate: z.number().min(0).max(1).optional(),
      })
      .strict()
      .prefault({}),
    /** How the two paths' answers are compared (shadow parity, `strangler parity run`). */
    parity: z
      .object({
        /** Response headers compared, lower case. */
        headers: z.array(z.string().regex(/^[a-z0-9-]+$/, 'must be a lower-case header name')).default(['content-type']),
        /** JSON paths never compared: $.meta.request_id, $.items[*].etag, $..updated_at. */
        ignore: z.array(jsonPath).default([]),
        /** Arrays compared as sets: JSON path -> the field that keys an element (null: whole elements). */
        sets: z.record(jsonPath, z.string().min(1).nullable()).default({}),
        numericTolerance: z.number().min(0).default(0),
        timeToleranceMs: z.number().min(0).default(1),
      })
      .strict()
      .prefault({}),
    /** Automatic moves by parity, per tenant: shadow -> canary steps -> extracted, and back to monolith on a spike. */
    gate: z
      .object({
        promote: z
          .object({
            /** Shadow comparisons needed, and canary requests per step. */
            minSamples: z.number().int().positive().default(100),
            maxMismatchRate: z.number().min(0).max(1).default(0.01),
            maxErrorRate: z.number().min(0).max(1).default(0.01),
            /**
             * At most this share of the comparisons may have matched only by leaving learned noise out: such a
             * comparison did not compare what it left out. Declare a field the monolith never repeats in
             * parity.ignore (reviewed) rather than raising this.
             */
            maxFilteredShare: z.number().min(0).max(1).default(0.05),
            /** Canary percentages walked through before extracted; [] goes from shadow straight to extracted. */
            canarySteps: z.array(z.number().gt(0).lt(100)).default([10, 50]),
          })
          .strict()
          .prefault({}),
        rollback: z
          .object({
            maxMismatchRate: z.number().min(0).max(1).default(0.05),
            maxErrorRate: z.number().min(0).max(1).default(0.05),
            windowMs: ms(60000),
            /** Samples in the window before a rate counts. */
            minSamples: z.number().int().positive().default(20),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .optional(),
  })
  .strict();

const serviceSchema = z
  .object({
    url: httpUrl,
    health: z.string().regex(/^\//, 'must be a path starting with /').default('/healthz'),
    timeouts: z
      .object({ connectMs: ms(1000), headersMs: ms(5000), bodyMs: ms(30000) })
      .strict()
      .prefault({}),
    breaker: z
      .object({
        /** Failures within windowMs that open the breaker. */
        failures: z.number().int().positive().default(5),
        windowMs: ms(10000),
        /** How long it stays open before one probe request is let through. */
        openMs: ms(5000),
      })
      .strict()
      .prefault({}),
    /** A header the service honours by rolling the request's writes back; enables mirrored writes. */
    dryRunHeader: headerName.optional(),
    /**
     * The service's own database (a PostgreSQL URL): a hand-over of a domain
     * it takes writes its record of ownership and its next ids there
     * (migration set "extracted"). Needed only by services that take a domain.
     */
    database: secret.optional(),
    /**
     * Reads fall back to the monolith while the service is behind its change
     * streams for the request's tenant: the proxy polls `path` (the
     * FreshnessReport of cdc/) every `pollMs`, and an idempotent request whose
     * tenant's oldest pending change is older than `maxBehindMs` goes to the
     * monolith. Without an answer for `3 x pollMs`, the service is trusted.
     */
    freshness: z
      .object({
        path: z.string().regex(/^\//, 'must be a path starting with /').default('/freshness'),
        /**
         * The report at another address instead of the service's own `path`: a service written outside the toolkit
         * that reads a copy the toolkit keeps (a table mirror) names that mirror's report as its own.
         */
        url: z.string().regex(/^https?:\/\/[^/\s]+\/\S*$/, 'must be an http(s) URL such as http://127.0.0.1:18301/freshness').optional(),
        maxBehindMs: ms(5000),
        pollMs: ms(500),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * A domain: the tables a service takes over with their writes, and the
 * routes that read and write them. `strangler own <domain> --tenant t --to
 * service|monolith` hands its writes over per tenant (ownership/README.md).
 */
const domainSchema = z
  .object({
    /** The extracted service that takes it (needs database and freshness). */
    service: identifier,
    /** The tables it owns, `schema.table` or `table` in public: the same names in the monolith's and the service's databases. */
    tables: z.array(z.string().regex(/^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/, 'must be a table name such as rooms or public.rooms')).min(1, 'needs at least one table'),
    /** The ids of the routes that read and write them: while the service owns a tenant's domain, they all go to the service. */
    routes: z.array(identifier).min(1, 'needs at least one route'),
    /** A write the monolith makes to an owned table outside these routes while the service owns it: detect (passes, reported as a conflict) or enforce (refused in the monolith's database). */
    fence: z.enum(['detect', 'enforce']).default('enforce'),
    hold: z
      .object({
        /** Writes held per tenant during a hand-over; past it, 503 with Retry-After. */
        maxQueued: z.number().int().positive().default(1000),
        /** How long a hand-over may hold the domain's writes; past it, it goes back to the old owner and held writes get 503 with Retry-After. */
        maxMs: ms(3000),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        /** Writes in flight through every proxy process to finish. */
        drainMs: ms(2000),
        /** The new owner to apply everything up to the fence. */
        catchUpMs: ms(2500),
        /** Handing back: a probe through back-sync to reach the monolith (the rollback guard). */
        guardMs: ms(5000),
      })
      .strict()
      .prefault({}),
    /** Comparisons of each write route (shadowed dry runs) a hand-over to the service needs for the tenant, none mismatched; 0 asks none. */
    parity: z.object({ minSamples: z.number().int().min(0).default(20) }).strict().prefault({}),
  })
  .strict();

const tenantSchema = z
  .object({
    monolith: httpUrl,
    /** Host names (without port) that resolve to this tenant. */
    hosts: z.array(z.string().min(1).transform((h) => h.toLowerCase())).default([]),
    /**
     * The tenant's monolith database (a PostgreSQL URL), read-only use: noise
     * learning asks its position before and after a pair of monolith answers,
     * and learns nothing from a pair across a commit. Without it, only the
     * writes this proxy forwarded are seen.
     */
    database: secret.optional(),
  })
  .strict();

const jwtKey = z
  .object({
    kid: z.string().optional(),
    alg: z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384']),
    /** HMAC algorithms: the shared secret; RSA and EC algorithms: the public key in PEM. */
    key: secret,
  })
  .strict();

const tenancySchema = z
  .object({
    /** Resolve by Host (each tenant's hosts), on by default. */
    byHost: z.boolean().default(true),
    /** Resolve by a header that only a trusted hop may set; anyone else's copy is ignored and stripped. */
    header: z
      .object({ name: headerName.default('x-strangler-tenant'), trustedHops: z.array(cidr).min(1, 'needs at least one trusted hop') })
      .strict()
      .optional(),
    /** Resolve by a claim of a verified JWT (Authorization: Bearer). */
    jwt: z
      .object({
        claim: z.string().min(1).default('tenant'),
        keys: z.array(jwtKey).min(1, 'needs at least one key'),
        issuer: z.string().optional(),
        audience: z.string().optional(),
        /** Clock skew allowed on exp and nbf. */
        leewaySeconds: z.number().int().min(0).default(30),
      })
      .strict()
      .optional(),
  })
  .strict();

export const ProxyConfigSchema = z
  .object({
    $schema: z.string().optional(),
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8080),
        /**
         * Processes serving the port (Node's cluster module): 1 serves from this process; 'auto' is one per
         * available core. Workers share parity figures and answer the admin API for all of them. Restart to change.
         */
        workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8081),
        tokens: z
          .array(z.object({ name: identifier, role: z.enum(['read', 'write']), token: secret }).strict())
          .min(1, 'needs at least one token: the admin API refuses anyone without one'),
      })
      .strict(),
    /** The control store (PostgreSQL, migrated by migrations/ set "control"): every flip is stored there, and replicas converge through it. */
    controlStore: z
      .object({
        url: secret,
        pollMs: ms(1000),
        /** At start, create the control store's database when it does not exist (and the role may) and bring its tables up to date; false: refuse a store that is not ready. */
        prepare: z.boolean().default(true),
      })
      .strict(),
    tenancy: tenancySchema.prefault({}),
    tenants: z.record(tenantName, tenantSchema).refine((t) => Object.keys(t).length > 0, 'needs at least one tenant'),
    services: z.record(identifier, serviceSchema).default({}),
    routes: z.array(routeSchema).default([]),
    /** Domains whose writes can be handed to their service per tenant, and back. */
    domains: z.record(identifier, domainSchema).default({}),
    forwarding: z
      .object({
        /** Peers whose X-Forwarded-* headers are believed and extended; everyone else's are replaced. */
        trustedProxies: z.array(cidr).default([]),
        /** Send the upstream's own authority as Host (default) or the client's. */
        preserveHost: z.boolean().default(false),
        maxBodyBytes: z.number().int().positive().default(10 * 1024 * 1024),
        maxHeaderBytes: z.number().int().min(1024).max(65536).default(16 * 1024),
        headersTimeoutMs: ms(10000),
        upstreamHeadersTimeoutMs: ms(30000),
        upstreamBodyTimeoutMs: ms(60000),
        /** Keep-alive connections per upstream origin. */
        connections: z.number().int().positive().default(128),
        via: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/).default('strangler'),
      })
      .strict()
      .prefault({}),
    /**
     * Read-your-writes: a client that wrote through the monolith reads what it
     * wrote, although the services are fed by change streams. Each write the
     * monolith answers sets a cookie with the time of its answer; while it is
     * younger than `windowMs`, the client's reads go to the monolith unless
     * the service's freshness report (services with `freshness`) says that
     * every change committed before that time plus `clockSkewMs` is applied
     * (`appliedThrough`). Off without this section. Clients without cookies
     * (a plain HTTP client) are not covered.
     */
    readYourWrites: z
      .object({
        cookie: z
          .string()
          .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a cookie name (letters, digits and !#$%&\'*+.^_`|~-)')
          .default('strangler-written'),
        windowMs: ms(30000),
        /** How far the monolith databases' clocks may run ahead of the proxy's (source commit times against its own). */
        clockSkewMs: z.number().int('must be an integer number of milliseconds').min(0, 'must be 0 or more').default(100),
        /**
         * A request for the monolith from a client that wrote, less than windowMs ago, through a service
         * owning a domain of its tenant waits at most this long for back-sync to carry that write into the
         * monolith; past it, it is sent anyway (counted). 0: it never waits.
         */
        backSyncWaitMs: z.number().int('must be an integer number of milliseconds').min(0, 'must be 0 or more').max(60000, 'must be 60000 or less').default(3000),
      })
      .strict()
      .optional(),
    shadow: z
      .object({
        queue: z.number().int().positive().default(1000),
        concurrency: z.number().int().positive().default(32),
        timeoutMs: ms(2000),
        /** Bodies (request or response) above this are not mirrored; the skip is counted. */
        maxBodyBytes: z.number().int().positive().default(1024 * 1024),
        /** Recent exchanges kept for GET /shadow/recent and the parity engine. */
        keep: z.number().int().min(0).default(200),
        header: headerName.default('x-strangler-shadow'),
        /**
         * Share of a shadowed route's mirrorable requests that are copied (0-1), drawn per request; the
         * others go to the monolith alone, counted skipped_sample. At high rates a copy costs about what
         * forwarding does: a sample keeps parity figures coming at a fraction of that. A route may set its own.
         */
        sampleRate: z.number().min(0).max(1).default(1),
        /** Share of shadowed reads for which the monolith is asked twice more, to learn noise in flight (0-1). */
        noiseSampleRate: z.number().min(0).max(1).default(0.1),
        /** When a path the monolith disagrees with itself on is noise (see strangler-proxy/README, "Learned noise"). */
        noise: z
          .object({
            /** Pairs of monolith answers with unchanged data a route needs before any path can be noise. */
            minPairs: z.number().int().min(1).default(10),
            /** Share of those pairs a path must have differed in. */
            minShare: z.number().gt(0, 'must be above 0').max(1).default(0.2),
            /** The newest pairs the share is taken over: a path that stops differing falls under the bar as they pass. */
            windowPairs: z.number().int().min(1).default(100),
            /** Pairs older than this no longer count. */
            maxAgeMs: ms(3_600_000),
          })
          .strict()
          .superRefine((n, ctx) => {
            if (n.windowPairs < n.minPairs) ctx.addIssue({ code: 'custom', path: ['windowPairs'], message: `must be at least minPairs (${n.minPairs}): a window of ${n.windowPairs} pairs never holds enough to learn` });
          })
          .prefault({}),
        /** Mismatches written to the control store per route and tenant per minute, at most. */
        mismatchSamplesPerMinute: z.number().int().min(0).default(10),
        /** Stored mismatches kept per route and tenant (the newest); older ones are deleted as new ones come. */
        mismatchesKept: z.number().int().min(1).default(1000),
        /** Shared memory (MiB) carrying captured bodies to the shadow thread; a copy that finds it full is dropped and counted. Read at start. */
        bufferMiB: z.number().int().min(1).max(1024).default(32),
        /** The shadow thread's nice value (Linux, 0-19): 19 lets copies and comparisons run only on CPU the primaries leave idle. */
        threadPriority: z.number().int().min(0).max(19).default(19),
        /** What recorded exchanges, stored mismatches and captured corpora never show. */
        redact: z
          .object({
            headers: z.array(z.string().regex(/^[a-z0-9-]+$/, 'must be a lower-case header name')).default(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']),
            jsonPaths: z.array(z.string().regex(/^\$/, 'must be a JSON path starting with $')).default([]),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Real requests recorded to a JSONL corpus (with the monolith's answers) for `strangler parity run`. */
    capture: z
      .object({
        /** The corpus file; capture is off without it. */
        file: z.string().min(1).optional(),
        /** Share of matched requests recorded (0-1). */
        sampleRate: z.number().min(0).max(1).default(0.1),
        /** Lines recorded per route at most (per process), so one hot route cannot fill the file. */
        maxPerRoute: z.number().int().positive().default(1000),
      })
      .strict()
      .prefault({}),
    /** Automatic moves by parity: the evaluation period. Per-route rules live under routes[].gate. */
    gates: z.object({ intervalMs: ms(1000) }).strict().prefault({}),
    /** The dashboard's header links: Prometheus, Grafana, the runbook, where the team watches the rest. */
    dashboard: z
      .object({
        links: z.array(z.object({ label: z.string().trim().min(1).max(60), url: z.string().regex(/^https?:\/\/[^\s"<>]+$/, 'must be an http(s) URL') }).strict()).max(8).default([]),
        /** `strangler catalog serve`'s origin: the dashboard's Streams page reads GET <catalogUrl>/catalog through the admin API. */
        catalogUrl: httpUrl.optional(),
      })
      .strict()
      .prefault({}),
    /** The figures over time behind the dashboard's charts and the progress view, kept in the control store (bounded, downsampled). */
    history: z
      .object({
        /** Record them (every process adds its own counts; the store merges replicas). */
        enabled: z.boolean().default(true),
        /** How often this process adds what it counted. The finest bucket is 5 s. */
        intervalMs: z.number().int().min(500, 'must be at least 500 ms').max(5000, 'must be at most 5000 ms (the finest bucket)').default(5000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), access: z.boolean().default(true) })
      .strict()
      .prefault({}),
    drain: z.object({ timeoutMs: ms(10000) }).strict().prefault({}),
  })
  .strict();

export type ProxyConfigInput = z.input<typeof ProxyConfigSchema>;
export type ProxyConfig = z.output<typeof ProxyConfigSchema>;
export type RouteConfig = ProxyConfig['routes'][number];
export type ServiceConfig = ProxyConfig['services'][string];
export type Mode = (typeof MODES)[number];
export type ModeSetting = z.output<typeof modeSetting>;
