// Opaque pagination cursors.
import { badRequest } from './context.js';

// ---------------------------------------------------------------------------- cursors

/**
 * Opaque keyset cursors: base64url JSON. Decoded and checked strictly; anything else is a 400.
 */
export function encodeCursor(c: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(text: string): Record<string, unknown> {
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(text)) throw new Error('shape');
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('shape');
    return value as Record<string, unknown>;
  } catch {
    throw badRequest('cursor: not a cursor this API gave out');
  }
}
