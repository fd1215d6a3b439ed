// Splitting a batch so that each request body stays under a byte limit — the 64 KiB that
// browsers allow for `fetch(..., { keepalive: true })` bodies.

/** Browsers refuse keepalive requests once their in-flight bodies exceed 64 KiB in total. */
export const KEEPALIVE_MAX_BYTES = 65_536;

// `{"sent_at":<ms>,"events":[...]}` around the events; 24 digits is room for any sent_at.
const ENVELOPE_BYTES = '{"sent_at":,"events":[]}'.length + 24;

const encoder = new TextEncoder();

/** Bytes of a string once UTF-8 encoded, which is what goes on the wire. */
export function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}

export interface Chunk<T> {
  items: T[];
  /** Upper bound of the request body size in bytes (envelope included). */
  bytes: number;
}

/**
 * Greedy, order-preserving split of `items` into chunks of at most `maxCount` items whose
 * `{"sent_at":..,"events":[..]}` body is at most `maxBytes`. An item too large on its own
 * gets a chunk to itself (whose `bytes` then exceeds `maxBytes`, for the caller to handle).
 */
export function splitBySize<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxBytes: number,
  maxCount: number,
): Chunk<T>[] {
  const chunks: Chunk<T>[] = [];
  let current: Chunk<T> = { items: [], bytes: ENVELOPE_BYTES };
  for (const item of items) {
    const size = sizeOf(item);
    const added = current.items.length === 0 ? size : size + 1; // + 1 for the comma
    if (current.items.length > 0 && (current.bytes + added > maxBytes || current.items.length >= maxCount)) {
      chunks.push(current);
      current = { items: [], bytes: ENVELOPE_BYTES };
      current.items.push(item);
      current.bytes += size;
    } else {
      current.items.push(item);
      current.bytes += added;
    }
  }
  if (current.items.length > 0) chunks.push(current);
  return chunks;
}
