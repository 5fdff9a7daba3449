import { shape } from './contract';

/**
 * The messaging domain's events: what other services may rely on, with a
 * version each (their contracts: contracts/events/*.json). The payload is
 * the resource as the service's API gives it, so a consumer reads the same
 * shape either way. Never the service's tables.
 */
export interface DomainEvent {
  readonly aggregateType: 'room' | 'message';
  readonly aggregateId: string;
  readonly type: 'room-created' | 'message-posted';
  readonly version: number;
  readonly payload: Record<string, unknown>;
}

type Row = Record<string, unknown>;

export const roomCreated = (room: Row): DomainEvent => ({ aggregateType: 'room', aggregateId: String(room.id), type: 'room-created', version: 1, payload: shape.room(room) });

export const messagePosted = (message: Row): DomainEvent => ({ aggregateType: 'message', aggregateId: String(message.id), type: 'message-posted', version: 1, payload: shape.message(message) });
