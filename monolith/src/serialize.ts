/**
 * Rows as the API has always sent them: integer ids as numbers (bigint ids
 * included: they stay far below 2^53), timestamps as ISO 8601 strings,
 * amounts as exact decimal strings.
 */
type Row = Record<string, unknown>;

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string | Date).toISOString());
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function user(r: Row) {
  return {
    id: num(r.id),
    email: r.email,
    display_name: r.display_name,
    bank_role: r.bank_role,
    profile: r.profile,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    deactivated_at: iso(r.deactivated_at),
  };
}

export function room(r: Row) {
  return {
    id: num(r.id),
    name: r.name,
    topic: r.topic ?? null,
    kind: r.kind,
    tags: r.tags,
    settings: r.settings,
    created_by: num(r.created_by),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    archived_at: iso(r.archived_at),
  };
}

export function member(r: Row) {
  return { room_id: num(r.room_id), user_id: num(r.user_id), role: r.role, joined_at: iso(r.joined_at) };
}

export function message(r: Row) {
  return {
    id: num(r.id),
    room_id: num(r.room_id),
    author_id: num(r.author_id),
    body: r.body,
    format: r.format,
    attachments: r.attachments,
    amount: r.amount ?? null,
    currency: r.currency ?? null,
    edit_count: num(r.edit_count),
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    edited_at: iso(r.edited_at),
    deleted_at: iso(r.deleted_at),
  };
}
