// The lag gauges of one instance follow its assignment: a revoked partition stops being
// reported here (its new owner reports it), a newly assigned one reports the group's lag until
// its first batch, and a late group answer never overwrites what a batch measured.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/logger.js';
import { createRegistry, processorMetrics } from '../../../lib/metrics.js';
import { LagGauges } from '../../../runtime/lag-gauges.js';

function setup() {
  const registry = createRegistry(false);
  const metrics = processorMetrics(registry);
  const asked: number[][] = [];
  const answers: ((m: Map<number, number>) => void)[] = [];
  const gauges = new LagGauges({
    name: 'view-counts',
    metrics,
    groupLag: (partitions) => {
      asked.push([...partitions]);
      return new Promise((resolve) => answers.push(resolve));
    },
    log: createLogger('silent'),
  });
  const series = async (name: string): Promise<Record<string, number>> => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name)!;
    return Object.fromEntries(
      (m.values as { labels: Record<string, string>; value: number }[]).map((v) => [v.labels.partition, v.value]),
    );
  };
  return {
    gauges,
    asked,
    answers,
    lag: () => series('viewpulse_processor_consumer_lag'),
    delay: () => series('viewpulse_processor_watermark_delay_seconds'),
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('LagGauges', () => {
  it('reports only owned partitions: revoked ones disappear, new ones start at the group lag', async () => {
    const t = setup();
    t.gauges.assign(new Set([0, 1, 2]));
    expect(t.asked).toEqual([[0, 1, 2]]);
    t.answers[0]!(
      new Map([
        [0, 10],
        [1, 20],
        [2, 0],
      ]),
    );
    await flush();
    expect(await t.lag()).toEqual({ 0: 10, 1: 20, 2: 0 });

    t.gauges.batch(0, 3, 12.5);
    t.gauges.batch(1, 0, 4);
    expect(await t.lag()).toEqual({ 0: 3, 1: 0, 2: 0 });

    // a rebalance: 1 and 2 go to another instance, 5 comes here
    t.gauges.assign(new Set([0, 5]));
    expect(t.asked[1]).toEqual([5]);
    expect(await t.lag()).toEqual({ 0: 3 });
    expect(await t.delay()).toEqual({ 0: 12.5 });
    t.answers[1]!(new Map([[5, 7]]));
    await flush();
    expect(await t.lag()).toEqual({ 0: 3, 5: 7 });

    // a batch of a partition no longer owned (fetched before the revoke) is not reported
    t.gauges.batch(2, 99, 1);
    expect(await t.lag()).toEqual({ 0: 3, 5: 7 });
  });

  it("a batch's measure wins over a group answer that comes later", async () => {
    const t = setup();
    t.gauges.assign(new Set([0, 1]));
    t.gauges.batch(0, 0, undefined);
    t.answers[0]!(
      new Map([
        [0, 500],
        [1, 40],
      ]),
    );
    await flush();
    expect(await t.lag()).toEqual({ 0: 0, 1: 40 });
  });

  it('an answer for an earlier assignment is dropped when the partition left and came back since', async () => {
    const t = setup();
    t.gauges.assign(new Set([3]));
    t.gauges.assign(new Set([]));
    t.gauges.assign(new Set([3]));
    t.answers[0]!(new Map([[3, 1_000]]));
    await flush();
    expect(await t.lag()).toEqual({});
    t.answers[1]!(new Map([[3, 8]]));
    await flush();
    expect(await t.lag()).toEqual({ 3: 8 });
  });

  it('clear (the instance left the group) removes every series', async () => {
    const t = setup();
    t.gauges.assign(new Set([0, 1]));
    t.gauges.batch(0, 1, 2);
    t.gauges.batch(1, 0, 2);
    t.gauges.clear();
    t.answers[0]!(
      new Map([
        [0, 5],
        [1, 5],
      ]),
    );
    await flush();
    expect(await t.lag()).toEqual({});
    expect(await t.delay()).toEqual({});
  });
});
