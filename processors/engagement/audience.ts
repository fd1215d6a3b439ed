// Who a creator's views come from, by country and device: for every counted view, an
// observation (creator, dimension, value, viewer, view time) into a Null table whose
// materialized views fold it into uniqCombined states per minute, hour and day (creator_audience),
// so the audience route merges a row per window and value instead of counting distinct viewers over the
// sessions. A repeated observation changes no state (a viewer seen twice is one viewer), so a
// replay after a crash is harmless. A view the repeat cap un-counts later cannot be taken back
// out of a state: its viewer stays counted — the figure is an estimate, and says so.
import { MINUTE } from '../../lib/time.js';
import type { ViewContribution } from './rollup.js';

/** One row of `audience_observations` (schemas/clickhouse/012_creator_audience.sql); times are epoch ms. */
export interface AudienceRow {
  creator_id: string;
  dimension: 'country' | 'device';
  value: string;
  viewer_id: string;
  view_time: number;
}

/** Observations waiting for the next drain, at most one per (creator, dimension, value, viewer, minute). */
export class AudienceBuffer {
  private readonly pending = new Map<string, AudienceRow>();

  /** A view now counts with these numbers (its viewer, view time and dimensions). */
  add(view: ViewContribution, viewer: string): void {
    if (view.creator === '') return;
    this.put(view.creator, 'country', view.country, viewer, view.t);
    this.put(view.creator, 'device', view.device, viewer, view.t);
  }

  put(creator: string, dimension: AudienceRow['dimension'], value: string, viewer: string, t: number): void {
    const key = `${creator}\u0000${dimension}\u0000${value}\u0000${viewer}\u0000${Math.floor(t / MINUTE)}`;
    if (!this.pending.has(key))
      this.pending.set(key, { creator_id: creator, dimension, value, viewer_id: viewer, view_time: t });
  }

  drain(): AudienceRow[] {
    const rows = [...this.pending.values()];
    this.pending.clear();
    return rows;
  }

  /** Observations not yet drained (normally none at a checkpoint: the runtime drains first). */
  toJSON(): AudienceRow[] {
    return [...this.pending.values()];
  }

  static fromJSON(rows: AudienceRow[] | undefined): AudienceBuffer {
    const buffer = new AudienceBuffer();
    for (const r of rows ?? []) buffer.put(r.creator_id, r.dimension, r.value, r.viewer_id, r.view_time);
    return buffer;
  }
}
