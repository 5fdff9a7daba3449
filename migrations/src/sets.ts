import type { Knex } from 'knex';
import * as monolith001 from './monolith/001_initial_schema';
import * as monolithCdc001 from './monolith-cdc/001_signal_and_heartbeat';
import * as monolithCdc002 from './monolith-cdc/002_domain_fence';
import * as monolithCdc003 from './monolith-cdc/003_backsync_state';
import * as monolithCdc004 from './monolith-cdc/004_backsync_probe_time';
import * as control001 from './control/001_route_modes';
import * as control002 from './control/002_parity_and_gates';
import * as control003 from './control/003_ownership';
import * as control004 from './control/004_history';
import * as extracted001 from './extracted/001_projection_checkpoints';
import * as extracted002 from './extracted/002_checkpoint_snapshot';
import * as extracted003 from './extracted/003_id_allocations';
import * as extracted004 from './extracted/004_domain_owners';
import * as extracted005 from './extracted/005_outbox';
import * as extracted006 from './extracted/006_inbox';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** One set of migrations for one kind of database, with its own bookkeeping table. */
export interface MigrationSet {
  readonly name: string;
  readonly description: string;
  /** Schema of the bookkeeping table; the set's own objects may live elsewhere. */
  readonly schemaName: string;
  readonly tableName: string;
  readonly migrations: Readonly<Record<string, Migration>>;
}

/**
 * Every set, by name. Migrations are listed here (not discovered from disk)
 * so that tsx, jest and a compiled build all run exactly the same ones.
 */
export const MIGRATION_SETS = Object.freeze({
  monolith: {
    name: 'monolith',
    description: "a tenant's monolith database: the legacy schema",
    schemaName: 'public',
    tableName: 'knex_migrations',
    migrations: { '001_initial_schema': monolith001 },
  },
  'monolith-cdc': {
    name: 'monolith-cdc',
    description: "the toolkit's objects inside a monolith database (schema strangler): Debezium signal table, heartbeat table, the write fence of domains handed to a service",
    schemaName: 'strangler',
    tableName: 'knex_migrations',
    migrations: { '001_signal_and_heartbeat': monolithCdc001, '002_domain_fence': monolithCdc002, '003_backsync_state': monolithCdc003, '004_backsync_probe_time': monolithCdc004 },
  },
  extracted: {
    name: 'extracted',
    description: "an extracted service database (multi-tenant): the projector runtime's checkpoints (schema strangler)",
    schemaName: 'public',
    tableName: 'knex_migrations',
    migrations: { '001_projection_checkpoints': extracted001, '002_checkpoint_snapshot': extracted002, '003_id_allocations': extracted003, '004_domain_owners': extracted004, '005_outbox': extracted005, '006_inbox': extracted006 },
  },
  control: {
    name: 'control',
    description: 'the control store: route modes, flips and their audit log, parity mismatches and gate controls, write ownership, the figures over time (charts, progress)',
    schemaName: 'public',
    tableName: 'knex_migrations',
    migrations: { '001_route_modes': control001, '002_parity_and_gates': control002, '003_ownership': control003, '004_history': control004 },
  },
} satisfies Record<string, MigrationSet>);

export type MigrationSetName = keyof typeof MIGRATION_SETS;
