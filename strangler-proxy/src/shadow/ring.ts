/**
 * A ring of shared memory that carries captured bodies from the data plane
 * to the shadow thread without allocating anything per request: the data
 * plane copies a body in and posts where it lies; the thread copies it out
 * on receipt and releases it. One writer, one reader, regions released in
 * the order they were taken (the thread handles messages in order), so the
 * bytes in use are always the one contiguous (possibly wrapped) range that
 * ends at the write position, and one shared counter is the whole protocol.
 */
export interface RingSlot {
  /** Where the bytes start, and how many. */
  readonly at: number;
  readonly length: number;
  /** What releasing the slot gives back (its length plus any tail of the ring skipped to keep it contiguous). */
  readonly charge: number;
}

export class BodyRing {
  readonly bytes: Uint8Array;
  private readonly used: Int32Array;
  private head = 0;

  /** A new ring (the writer's side), or the reader's view of one (pass the writer's `shared`). */
  constructor(capacityOrShared: number | SharedArrayBuffer) {
    const sab = typeof capacityOrShared === 'number' ? new SharedArrayBuffer(8 + capacityOrShared) : capacityOrShared;
    if (sab.byteLength - 8 > 0x7fffffff) throw new RangeError('a body ring holds at most 2 GiB');
    this.used = new Int32Array(sab, 0, 1);
    this.bytes = new Uint8Array(sab, 8);
  }

  get shared(): SharedArrayBuffer {
    return this.used.buffer as SharedArrayBuffer;
  }

  get capacity(): number {
    return this.bytes.length;
  }

  /** Bytes taken and not yet released. */
  get inUse(): number {
    return Atomics.load(this.used, 0);
  }

  /** Writer: copies the chunks in as one region; null when they do not fit now (the caller counts a dropped copy). */
  write(chunks: readonly Uint8Array[], length: number): RingSlot | null {
    const cap = this.bytes.length;
    if (length > cap) return null;
    // Nothing live (only the reader lowers the count, so it stays that way): start over at the front.
    if (Atomics.load(this.used, 0) === 0) this.head = 0;
    let at = this.head;
    let skipped = 0;
    if (at + length > cap) {
      skipped = cap - at;
      at = 0;
    }
    if (Atomics.load(this.used, 0) + skipped + length > cap) return null;
    let p = at;
    for (const c of chunks) {
      this.bytes.set(c, p);
      p += c.length;
    }
    this.head = at + length;
    Atomics.add(this.used, 0, skipped + length);
    return { at, length, charge: skipped + length };
  }

  /** Reader: a copy of the slot's bytes (the ring's memory is reused once released). */
  read(slot: RingSlot): Buffer {
    return Buffer.from(this.bytes.subarray(slot.at, slot.at + slot.length));
  }

  /** Reader: gives a slot back. Slots must be released in the order they were written. */
  release(slot: RingSlot): void {
    Atomics.sub(this.used, 0, slot.charge);
  }

  /** Writer, with no reader left (the thread died): everything is free again. */
  reset(): void {
    this.head = 0;
    Atomics.store(this.used, 0, 0);
  }
}
