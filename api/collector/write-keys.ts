// Write-key check: constant-time comparison of SHA-256 digests against every configured key
// (no early exit, no length leak). A key is never logged; its fingerprint (first 8 hex
// digits of its digest) names it in logs, metrics and rate-limit buckets.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Longer headers are refused without hashing. */
export const MAX_WRITE_KEY_LENGTH = 256;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export const fingerprint = (key: string): string => digest(key).toString('hex').slice(0, 8);

/** A checker for `keys`: the fingerprint of the matching key, or undefined. */
export function writeKeyChecker(keys: readonly string[]): (candidate: unknown) => string | undefined {
  const known = keys.map((k) => ({ digest: digest(k), fingerprint: fingerprint(k) }));
  return (candidate) => {
    if (typeof candidate !== 'string' || candidate.length === 0 || candidate.length > MAX_WRITE_KEY_LENGTH) {
      return undefined;
    }
    const d = digest(candidate);
    let match: string | undefined;
    for (const k of known) if (timingSafeEqual(d, k.digest) && match === undefined) match = k.fingerprint;
    return match;
  };
}
