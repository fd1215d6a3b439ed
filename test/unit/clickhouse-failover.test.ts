// The failover client over in-memory replicas (no network): which call goes where when a
// replica refuses, resets or cannot serve, what is retried at once and what is left to the
// caller, and which errors are not a replica's fault at all.
import { Readable } from 'node:stream';
import { ResultSet } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '../../lib/clickhouse/client.js';
import { FailoverClickHouse, replicaUnavailable } from '../../lib/clickhouse/failover.js';
import { ClickHouseWriter } from '../../lib/clickhouse/writer.js';

const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
const serverError = (code: number, text: string): Error =>
  Object.assign(new Error(`Code: ${code}, e.displayText() = DB::Exception: ${text}`), { code: String(code) });

/** A replica that answers `rows` to every query, records inserts, or fails as `mode` says. */
class FakeReplica {
  mode: 'up' | 'down' | 'readonly' | 'cut-body' = 'up';
  readonly calls: string[] = [];
  readonly inserted: string[] = [];

  constructor(
    readonly name: string,
    private readonly rows: object[] = [{ replica: name }],
  ) {}

  private check(what: string): void {
    this.calls.push(what);
    if (this.mode === 'down') throw refused();
  }

  client(): ClickHouseClient {
    return {
      query: async () => {
        this.check('query');
        const body = this.rows.map((r) => `${JSON.stringify(r)}\n`).join('');
        if (this.mode === 'cut-body') {
          // the headers arrived, then the server died mid-body
          const stream = new Readable({ read() {} });
          stream.push(body.slice(0, 3));
          setImmediate(() => stream.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
          return new ResultSet(stream, 'JSONEachRow', 'q');
        }
        return new ResultSet(Readable.from([Buffer.from(body)], { objectMode: false }), 'JSONEachRow', 'q');
      },
      command: async (p: { query: string }) => {
        this.check('command');
        if (/SELEC /.test(p.query)) throw serverError(62, 'Syntax error');
        return { query_id: 'c', response_headers: {} };
      },
      insert: async (p: { values: unknown }) => {
        this.check('insert');
        if (this.mode === 'readonly') throw serverError(242, 'Table is in readonly mode');
        const values = p.values;
        const text =
          values instanceof Readable
            ? Buffer.concat(await values.toArray()).toString()
            : JSON.stringify(values as unknown[]);
        this.inserted.push(text);
        return { executed: true, query_id: 'i', response_headers: {} };
      },
      exec: async () => {
        this.check('exec');
        return { stream: Readable.from([]), query_id: 'e', response_headers: {} };
      },
      ping: async () => {
        this.calls.push('ping');
        return this.mode === 'down' ? { success: false, error: refused() } : { success: true };
      },
      close: async () => undefined,
    } as unknown as ClickHouseClient;
  }
}

function setUp(n = 2) {
  const replicas = Array.from({ length: n }, (_, i) => new FakeReplica(`r${i + 1}`));
  const moves: string[] = [];
  const ch = new FailoverClickHouse(
    replicas.map((r) => ({ url: r.name, client: r.client() })),
    { onFailover: (from, to) => moves.push(`${from}→${to}`) },
  );
  return { replicas, ch, moves };
}

const rowsOf = async (ch: ClickHouseClient): Promise<unknown[]> =>
  (await ch.query({ query: 'SELECT 1', format: 'JSONEachRow' })).json();

describe('FailoverClickHouse', () => {
  it('reads from the first replica while it answers, then from the next one, which stays current', async () => {
    const { replicas, ch, moves } = setUp();
    expect(await rowsOf(ch)).toEqual([{ replica: 'r1' }]);
    replicas[0]!.mode = 'down';
    expect(await rowsOf(ch)).toEqual([{ replica: 'r2' }]);
    expect(moves).toEqual(['r1→r2']);
    // back up, but calls stay where they moved: no flapping
    replicas[0]!.mode = 'up';
    expect(await rowsOf(ch)).toEqual([{ replica: 'r2' }]);
    expect(ch.currentUrl).toBe('r2');
    // and move back when the second goes down
    replicas[1]!.mode = 'down';
    expect(await rowsOf(ch)).toEqual([{ replica: 'r1' }]);
    expect(moves).toEqual(['r1→r2', 'r2→r1']);
  });

  it('retries a query whose result was cut off halfway on the next replica', async () => {
    const { replicas, ch } = setUp();
    replicas[0]!.mode = 'cut-body';
    expect(await rowsOf(ch)).toEqual([{ replica: 'r2' }]);
  });

  it('throws an error about the query itself at once, without failing over', async () => {
    const { replicas, ch, moves } = setUp();
    await expect(ch.command({ query: 'SELEC 1' })).rejects.toThrow(/Code: 62/);
    expect(replicas[1]!.calls).toEqual([]);
    expect(moves).toEqual([]);
  });

  it('retries an insert of an array on the next replica at once', async () => {
    const { replicas, ch } = setUp();
    replicas[0]!.mode = 'readonly';
    await ch.insert({ table: 't', values: [{ a: 1 }], format: 'JSONEachRow' });
    expect(replicas[0]!.inserted).toEqual([]);
    expect(replicas[1]!.inserted).toEqual(['[{"a":1}]']);
  });

  it('throws an insert from a stream (read once) after moving on; the next attempt goes to the next replica', async () => {
    const { replicas, ch } = setUp();
    replicas[0]!.mode = 'down';
    const body = (): Readable => Readable.from([Buffer.from('1\tx\n')]);
    await expect(ch.insert({ table: 't', values: body(), format: 'TabSeparated' })).rejects.toThrow(/ECONNREFUSED/);
    expect(replicas[1]!.calls).toEqual([]);
    await ch.insert({ table: 't', values: body(), format: 'TabSeparated' });
    expect(replicas[1]!.inserted).toEqual(['1\tx\n']);
  });

  it('under the batched writer, a write lands once on the replica that answers', async () => {
    const { replicas, ch } = setUp();
    replicas[0]!.mode = 'down';
    const retries: number[] = [];
    const writer = new ClickHouseWriter(ch, 'db', {
      initialBackoffMs: 1,
      sleep: async () => undefined,
      onRetry: (_t, attempt) => retries.push(attempt),
    });
    await writer.write({ table: 'view_counts', rows: [{ id: 'v1', views: 2 }] });
    expect(retries).toEqual([1]);
    expect(replicas[0]!.inserted).toEqual([]);
    expect(replicas[1]!.inserted).toEqual(['v1\t2\n']);
  });

  it('throws the last error when no replica answers', async () => {
    const { replicas, ch } = setUp();
    for (const r of replicas) r.mode = 'down';
    await expect(rowsOf(ch)).rejects.toThrow(/ECONNREFUSED/);
    expect(replicas.map((r) => r.calls)).toEqual([['query'], ['query']]);
  });

  it('pings each replica in turn and answers success from the first that answers', async () => {
    const { replicas, ch } = setUp();
    replicas[0]!.mode = 'down';
    expect((await ch.ping()).success).toBe(true);
    expect(ch.currentUrl).toBe('r2');
    replicas[1]!.mode = 'down';
    expect((await ch.ping()).success).toBe(false);
  });

  it('moves once when concurrent calls fail on the same replica', async () => {
    const { replicas, ch, moves } = setUp(3);
    replicas[0]!.mode = 'down';
    const got = await Promise.all([rowsOf(ch), rowsOf(ch), rowsOf(ch)]);
    expect(got).toEqual([[{ replica: 'r2' }], [{ replica: 'r2' }], [{ replica: 'r2' }]]);
    expect(moves).toEqual(['r1→r2']);
    expect(replicas[2]!.calls).toEqual([]);
  });
});

describe('replicaUnavailable', () => {
  it.each([
    ['a refused connection', refused(), true],
    ['a reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true],
    ['socket hang up', new Error('socket hang up'), true],
    ["the client's timeout", new Error('Timeout error.'), true],
    ['a read-only replica (242)', serverError(242, 'Table is in readonly mode'), true],
    ['no ZooKeeper (225)', serverError(225, 'Cannot use ZooKeeper'), true],
    ['a ZooKeeper error (999)', serverError(999, 'Session expired'), true],
    ['an insert of unknown status (319)', serverError(319, 'Unknown status'), true],
    ['a refusal under the cause', new Error('request failed', { cause: refused() }), true],
    ['a syntax error (62)', serverError(62, 'Syntax error'), false],
    ['an unknown table (60)', serverError(60, "Table db.t doesn't exist"), false],
    ['too many parts (252): load, not absence', serverError(252, 'Too many parts'), false],
    ['not an Error', 'ECONNREFUSED', false],
  ])('%s → %s', (_what, err, want) => {
    expect(replicaUnavailable(err)).toBe(want);
  });
});
