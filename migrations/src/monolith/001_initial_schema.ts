import type { Knex } from 'knex';

/**
 * The inherited schema as the monolith's authors left it: sequential integer
 * ids, server-side timestamps, JSON and numeric columns, soft deletes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.text('email').notNullable().unique();
    t.text('display_name').notNullable();
    t.text('bank_role').notNullable().defaultTo('client');
    t.jsonb('profile').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('deactivated_at', { useTz: true, precision: 6 });
  });
  await knex.raw(`ALTER TABLE users ADD CONSTRAINT users_bank_role_check CHECK (bank_role IN ('client','advisor','compliance','admin'))`);

  await knex.schema.createTable('rooms', (t) => {
    t.increments('id');
    t.text('name').notNullable();
    t.text('topic');
    t.text('kind').notNullable().defaultTo('group');
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    t.jsonb('settings').notNullable().defaultTo('{}');
    t.integer('created_by').references('users.id');
    t.timestamp('created_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('archived_at', { useTz: true, precision: 6 });
  });
  await knex.raw(`ALTER TABLE rooms ADD CONSTRAINT rooms_kind_check CHECK (kind IN ('direct','group','announcement'))`);

  await knex.schema.createTable('room_members', (t) => {
    t.integer('room_id').notNullable().references('rooms.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id');
    t.text('role').notNullable().defaultTo('member');
    t.timestamp('joined_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.primary(['room_id', 'user_id']);
  });
  await knex.raw(`ALTER TABLE room_members ADD CONSTRAINT room_members_role_check CHECK (role IN ('owner','member','observer'))`);
  await knex.raw('CREATE INDEX room_members_user_idx ON room_members (user_id)');

  await knex.schema.createTable('messages', (t) => {
    t.bigIncrements('id');
    t.integer('room_id').notNullable().references('rooms.id').onDelete('CASCADE');
    t.integer('author_id').notNullable().references('users.id');
    t.text('body').notNullable();
    t.text('format').notNullable().defaultTo('plain');
    t.jsonb('attachments').notNullable().defaultTo('[]');
    // Payment requests sent in chat: an exact amount, never a float.
    t.decimal('amount', 18, 2);
    t.specificType('currency', 'char(3)');
    t.integer('edit_count').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 6 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('edited_at', { useTz: true, precision: 6 });
    t.timestamp('deleted_at', { useTz: true, precision: 6 });
  });
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_format_check CHECK (format IN ('plain','markdown'))`);
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_amount_currency_check CHECK ((amount IS NULL) = (currency IS NULL))`);
  await knex.raw('CREATE INDEX messages_room_id_idx ON messages (room_id, id)');
  await knex.raw(`CREATE INDEX messages_body_search_idx ON messages USING gin (to_tsvector('simple', body))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('messages');
  await knex.schema.dropTable('room_members');
  await knex.schema.dropTable('rooms');
  await knex.schema.dropTable('users');
}
