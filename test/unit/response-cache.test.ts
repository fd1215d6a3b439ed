// The API's response cache as a value with a controllable clock: final answers live for their
// TTL, provisional ones for a short TTL and only under the watermark token they were stored
// with; memory is bounded in bytes, the least recently used answer going first. Freshness polls
// the watermark at most once per interval, sharing a read in flight.
import { describe, expect, it } from 'vitest';
import { Freshness, ResponseCache } from '../../api/response-cache.js';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';

const answer = (payload: string, final: boolean, token = 't1') => ({ payload, headers: {}, final, token });

describe('ResponseCache', () => {
  it('a final answer lives for finalTtlMs whatever the watermark does', () => {
    let now = 0;
    const cache = new ResponseCache({ finalTtlMs: 1_000 }, () => now);
    cache.set('k', answer('a', true));
    now = 999;
    expect(cache.get('k', 'another token')?.payload).toBe('a');
    now = 1_000;
    expect(cache.get('k', 't1')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('a provisional answer lives for provisionalTtlMs and only under its token', () => {
    let now = 0;
    const cache = new ResponseCache({ provisionalTtlMs: 500 }, () => now);
    cache.set('k', answer('p', false, 't1'));
    expect(cache.get('k', 't1')?.payload).toBe('p');
    expect(cache.get('k', null)).toBeUndefined(); // watermark unknown: not served
    cache.set('k', answer('p', false, 't1'));
    expect(cache.get('k', 't2')).toBeUndefined(); // the processors wrote since
    cache.set('k', answer('p', false, 't1'));
    now = 500;
    expect(cache.get('k', 't1')).toBeUndefined();
  });

  it('is bounded in bytes: the least recently used answers are evicted first', () => {
    const cache = new ResponseCache({ maxBytes: 1_600 });
    const body = 'x'.repeat(97); // 97 + a 3-character key = 100 bytes each
    for (let i = 0; i < 16; i++) cache.set(`k${String(i).padStart(2, '0')}`, answer(body, true));
    expect(cache.bytes).toBe(1_600);
    cache.get('k00', 't1'); // k00 is now the most recently used
    cache.set('k16', answer(body, true));
    expect(cache.bytes).toBeLessThanOrEqual(1_600);
    expect(cache.has('k00')).toBe(true);
    expect(cache.has('k01')).toBe(false);
    // one answer larger than a sixteenth of the memory is not kept
    cache.set('big', answer('y'.repeat(200), true));
    expect(cache.has('big')).toBe(false);
  });
});

describe('Freshness', () => {
  it('reads the watermark at most once per interval, sharing the read in flight; null when it cannot read', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const clickhouse = {
      query: async () => {
        reads++;
        if (fail) throw new Error('down');
        return { json: async () => [{ wm: String(1000 + reads), n: '3' }] };
      },
    } as unknown as ClickHouseClient;
    const f = new Freshness(clickhouse, 'db', 250, () => now);
    const [a, b] = await Promise.all([f.token(), f.token()]);
    expect(a).toBe('1001/3');
    expect(b).toBe(a);
    expect(reads).toBe(1);
    now = 249;
    expect(await f.token()).toBe('1001/3');
    now = 250;
    expect(await f.token()).toBe('1002/3');
    fail = true;
    now = 600;
    expect(await f.token()).toBeNull();
  });
});
