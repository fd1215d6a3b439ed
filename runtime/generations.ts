// Which consumer group each processor runs as (schemas/clickhouse/009_replay.sql). A processor
// starts as its default group; `viewpulse replay --swap` hands it over to the replay's group,
// whose changelog holds the state that built the swapped-in tables. Read by every running
// processor (runtime/processor-slot.ts) and by `viewpulse status`.
import { exec, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { TABLES } from '../schemas/tables.js';

export interface Generation {
  processor: string;
  /** 0: the default group (no row yet) */
  generation: number;
  /** draining: a replay is swapping tables, live instances stop and wait; active: run as groupId */
  state: 'draining' | 'active';
  groupId: string;
  /** The rule parameters the tables of this generation were built with (null: the configured ones). */
  rules: Record<string, number> | null;
  replayId: string;
}

interface Row {
  processor: string;
  generation: number;
  state: 'draining' | 'active';
  group_id: string;
  rules: string;
  replay_id: string;
}

/** The newest generation of each processor that has one ('active' after 'draining' of the same number). */
export async function currentGenerations(ch: ClickHouseClient, database: string): Promise<Map<string, Generation>> {
  const rows = await queryRows<Row>(
    ch,
    sql`SELECT processor, generation, state, group_id, rules, replay_id
        FROM ${v.table(database, TABLES.generations)}
        ORDER BY processor, generation DESC, state DESC
        LIMIT 1 BY processor`,
  );
  return new Map(
    rows.map((r) => [
      r.processor,
      {
        processor: r.processor,
        generation: Number(r.generation),
        state: r.state,
        groupId: r.group_id,
        rules: r.rules === '' ? null : (JSON.parse(r.rules) as Record<string, number>),
        replayId: r.replay_id,
      },
    ]),
  );
}

export async function appendGeneration(ch: ClickHouseClient, database: string, g: Generation): Promise<void> {
  await exec(
    ch,
    sql`INSERT INTO ${v.table(database, TABLES.generations)} (processor, generation, state, group_id, rules, replay_id)
        VALUES (${v.string(g.processor)}, ${v.uint(g.generation, 'UInt32')}, ${v.string(g.state)},
                ${v.string(g.groupId)}, ${v.string(g.rules === null ? '' : JSON.stringify(g.rules))}, ${v.string(g.replayId)})`,
  );
}
