// The rule parameters (docs/semantics.md, "Rule parameters"): the processors run under the
// ones they are given, and equal the generator's truth computed under the same ones — the
// truth being the generator's own implementation of the document, not the processors' code.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, RULE_VARIABLES } from '../../lib/config.js';
import { TestDriver } from '../../processors/driver.js';
import { engagement, SESSIONS_TABLE } from '../../processors/engagement/processor.js';
import {
  DEFAULT_RULE_PARAMETERS,
  RULE_PARAMETER_RANGES,
  ruleParameters,
  validateRuleParameters,
  type RuleParameters,
} from '../../processors/parameters.js';
import { finalizedThrough } from '../../processors/semantics.js';
import { COUNTS_TABLE, viewCounts } from '../../processors/view-counts/processor.js';
import { PROCESSORS, type ProcessorName } from '../../runtime/registry.js';
import { generateTraffic, type TruthReport } from '../../generator/index.js';
import { KafkaSink } from '../../generator/sinks.js';
import { DEFAULT_TRUTH_RULES, repeatCapAllows, truthRules, viewThreshold } from '../../generator/truth.js';
import type { PlayEvent } from '../../schemas/types.js';

describe('rule parameters: values and validation', () => {
  it('lib/config.ts has the same defaults and ranges as processors/parameters.ts', () => {
    expect(loadConfig({}).rules).toEqual(DEFAULT_RULE_PARAMETERS);
    expect(Object.keys(RULE_VARIABLES).sort()).toEqual(Object.keys(DEFAULT_RULE_PARAMETERS).sort());
    for (const [key, r] of Object.entries(RULE_VARIABLES)) {
      expect([r.min, r.max], key).toEqual(RULE_PARAMETER_RANGES[key as keyof RuleParameters]);
      expect(r.fallback, key).toBe(DEFAULT_RULE_PARAMETERS[key as keyof RuleParameters]);
    }
  });

  it("the defaults are today's rules, the generator's defaults too", () => {
    expect(DEFAULT_RULE_PARAMETERS).toEqual({
      viewThresholdMs: 30_000,
      repeatCapMs: 1_800_000,
      sessionGapMs: 1_800_000,
      sessionGraceMs: 300_000,
      windowGraceMs: 60_000,
      allowedLatenessMs: 1_200_000,
      outOfOrdernessMs: 10_000,
    });
    expect(Object.isFrozen(DEFAULT_RULE_PARAMETERS)).toBe(true);
    expect(DEFAULT_TRUTH_RULES).toEqual({ viewThresholdMs: 30_000, repeatCapMs: 1_800_000 });
  });

  it('reads every VIEWPULSE_RULE_* variable', () => {
    const env = {
      VIEWPULSE_RULE_VIEW_THRESHOLD_MS: '10000',
      VIEWPULSE_RULE_REPEAT_CAP_MS: '0',
      VIEWPULSE_RULE_SESSION_GAP_MS: '900000',
      VIEWPULSE_RULE_SESSION_GRACE_MS: '60000',
      VIEWPULSE_RULE_WINDOW_GRACE_MS: '120000',
      VIEWPULSE_RULE_ALLOWED_LATENESS_MS: '600000',
      VIEWPULSE_RULE_OUT_OF_ORDERNESS_MS: '5000',
    };
    const rules = loadConfig(env).rules;
    expect(rules).toEqual({
      viewThresholdMs: 10_000,
      repeatCapMs: 0,
      sessionGapMs: 900_000,
      sessionGraceMs: 60_000,
      windowGraceMs: 120_000,
      allowedLatenessMs: 600_000,
      outOfOrdernessMs: 5_000,
    });
    expect(validateRuleParameters(rules)).toEqual(rules);
  });

  it.each([
    ['VIEWPULSE_RULE_VIEW_THRESHOLD_MS', '999'],
    ['VIEWPULSE_RULE_VIEW_THRESHOLD_MS', '600001'],
    ['VIEWPULSE_RULE_VIEW_THRESHOLD_MS', '10s'],
    ['VIEWPULSE_RULE_REPEAT_CAP_MS', '-1'],
    ['VIEWPULSE_RULE_SESSION_GAP_MS', '0'],
    ['VIEWPULSE_RULE_SESSION_GRACE_MS', '1.5'],
    ['VIEWPULSE_RULE_WINDOW_GRACE_MS', '-60000'],
    ['VIEWPULSE_RULE_ALLOWED_LATENESS_MS', 'lots'],
    ['VIEWPULSE_RULE_OUT_OF_ORDERNESS_MS', '3600001'],
  ])('refuses %s=%s with a ConfigError naming the variable', (variable, value) => {
    let caught: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(variable);
    expect((caught as ConfigError).message).toContain(variable);
  });

  it('validateRuleParameters names every bad parameter, and unknown ones', () => {
    expect(() => ruleParameters({ viewThresholdMs: 999 })).toThrow(
      /viewThresholdMs: must be .* 1000\.\.600000, got 999/,
    );
    expect(() => ruleParameters({ repeatCapMs: -1, sessionGapMs: 0 })).toThrow(/repeatCapMs.*; sessionGapMs/);
    expect(() => ruleParameters({ windowGraceMs: 1.5 })).toThrow(RangeError);
    expect(() => ruleParameters({ allowedLatenessMs: Number.NaN })).toThrow(/allowedLatenessMs/);
    expect(() =>
      validateRuleParameters({ ...DEFAULT_RULE_PARAMETERS, viewThreshold: 10_000 } as RuleParameters),
    ).toThrow(/viewThreshold: not a rule parameter/);
    const r = ruleParameters({ viewThresholdMs: 10_000 });
    expect(r).toEqual({ ...DEFAULT_RULE_PARAMETERS, viewThresholdMs: 10_000 });
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('every processor of the registry is built under the rules it is given, and refuses bad ones', () => {
    const rules = ruleParameters({ viewThresholdMs: 10_000, windowGraceMs: 0 });
    for (const name of Object.keys(PROCESSORS) as ProcessorName[]) {
      expect(PROCESSORS[name].definition().rules, name).toEqual(DEFAULT_RULE_PARAMETERS);
      expect(PROCESSORS[name].definition(rules).rules, name).toEqual(rules);
      expect(() => PROCESSORS[name].definition({ ...rules, sessionGapMs: -1 }), name).toThrow(/sessionGapMs/);
    }
  });

  it('finality follows the window grace it is given', () => {
    expect(finalizedThrough(1_000_000, 60_000)).toBe(940_000);
    expect(finalizedThrough(1_000_000, 0)).toBe(1_000_000);
    expect(finalizedThrough(30_000, 60_000)).toBe(0);
  });

  it("the generator's rule functions take the parameters", () => {
    expect(viewThreshold(600_000, 10_000)).toBe(10_000);
    expect(viewThreshold(8_000, 10_000)).toBe(8_000);
    expect(viewThreshold(undefined, 10_000)).toBe(10_000);
    expect(repeatCapAllows(0, 299_999, 300_000)).toBe(false);
    expect(repeatCapAllows(0, 300_000, 300_000)).toBe(true);
    expect(repeatCapAllows(0, 0, 0)).toBe(true);
    expect(truthRules(DEFAULT_RULE_PARAMETERS)).toEqual(DEFAULT_TRUTH_RULES);
    expect(() => truthRules({ viewThresholdMs: 0, repeatCapMs: 0 })).toThrow(/viewThresholdMs/);
    expect(() => truthRules({ viewThresholdMs: 10_000, repeatCapMs: -1 })).toThrow(/repeatCapMs/);
  });
});

// ---------------------------------------------------------------- processors against the truth

const PARTITIONS = 3;
const partitionOf = (viewer: string): number => {
  let h = 0;
  for (let i = 0; i < viewer.length; i++) h = (h * 31 + viewer.charCodeAt(i)) | 0;
  return Math.abs(h) % PARTITIONS;
};

interface Outcome {
  truth: TruthReport;
  /** "video|minute" → [plays, views, watch_ms], non-zero cells, from view_counts rows. */
  minutes: Map<string, [number, number, number]>;
  totals: { plays: number; views: number; watch_ms: number };
  /** Sessions engagement wrote as counted views. */
  countedSessions: number;
  /** Records a processor set aside (would make the truth unreachable). */
  setAside: number;
}

/** One generated dataset through view-counts and engagement in memory, and its truth, both under `rules`. */
function runUnder(rules: RuleParameters): Outcome {
  const traffic = generateTraffic({ events: 12_000, seed: 29, now: Date.UTC(2026, 0, 10), rules });
  const lookup = {
    get: (videoId: string) => {
      const f = traffic.catalog.lookup(videoId);
      return f ? { creatorId: f.creator_id, durationMs: f.duration_ms } : undefined;
    },
  };
  const counts = new TestDriver<PlayEvent>(viewCounts(rules), lookup);
  const sessions = new TestDriver<PlayEvent>(engagement(rules), lookup);
  let n = 0;
  for (const d of traffic.deliveriesSync()) {
    if (d.kind !== 'event') continue;
    const e = KafkaSink.record(d);
    counts.pipe(partitionOf(e.viewer_id), e, e.viewer_id);
    sessions.pipe(partitionOf(e.viewer_id), e, e.viewer_id);
    if (++n % 2_000 === 0) {
      counts.checkpoint();
      sessions.checkpoint();
    }
  }
  counts.checkpoint();
  sessions.checkpoint();
  const minutes = new Map<string, [number, number, number]>();
  for (const row of counts.table(COUNTS_TABLE.name).rows()) {
    if (row.dim !== 'video' || row.grain !== 'minute') continue;
    const key = `${String(row.id)}|${Number(row.window_start)}`;
    const cell = minutes.get(key) ?? [0, 0, 0];
    cell[0] += Number(row.plays);
    cell[1] += Number(row.views);
    cell[2] += Number(row.watch_ms);
    minutes.set(key, cell);
  }
  for (const [k, c] of minutes) if (c[0] === 0 && c[1] === 0 && c[2] === 0) minutes.delete(k);
  const sum = (i: number): number => [...minutes.values()].reduce((a, c) => a + c[i]!, 0);
  const setAside = [...counts.outcomes, ...sessions.outcomes].filter(
    (o) => o.kind === 'drop' && (o.reason === 'session_closed' || o.reason === 'session_folded'),
  ).length;
  return {
    truth: traffic.truth(),
    minutes,
    totals: { plays: sum(0), views: sum(1), watch_ms: sum(2) },
    countedSessions: sessions
      .table(SESSIONS_TABLE.name)
      .rows()
      .filter((r) => r.counted_view === 1).length,
    setAside,
  };
}

const truthMinutes = (t: TruthReport): Map<string, [number, number, number]> =>
  new Map(t.minutes.map((r) => [`${r.video_id}|${r.minute}`, [r.plays, r.views, r.watch_ms]]));

describe('rule parameters: processors equal the truth under the same rules', () => {
  const runs = new Map<string, Outcome>();
  const under = (label: string, rules: RuleParameters): Outcome => {
    let o = runs.get(label);
    if (!o) runs.set(label, (o = runUnder(rules)));
    return o;
  };
  const RULES = {
    today: DEFAULT_RULE_PARAMETERS,
    threshold10s: ruleParameters({ viewThresholdMs: 10_000 }),
    threshold10sCap5min: ruleParameters({ viewThresholdMs: 10_000, repeatCapMs: 5 * 60_000 }),
  };

  it.each(Object.keys(RULES) as (keyof typeof RULES)[])(
    'per video and minute, plays, views and watch time equal the truth exactly (%s)',
    (label) => {
      const rules = RULES[label];
      const o = under(label, rules);
      expect(o.truth.options.rules).toEqual({ viewThresholdMs: rules.viewThresholdMs, repeatCapMs: rules.repeatCapMs });
      expect(o.setAside).toBe(0);
      expect(o.truth.totals.views).toBeGreaterThan(0);
      expect(o.minutes).toEqual(truthMinutes(o.truth));
      expect(o.totals).toEqual({
        plays: o.truth.totals.plays,
        views: o.truth.totals.views,
        watch_ms: o.truth.totals.watch_ms,
      });
      expect(o.countedSessions).toBe(o.truth.totals.views);
    },
  );

  it('the parameters are really used: 10 s counts more views than 30 s, a 5 min cap more than 30 min', () => {
    const today = under('today', RULES.today);
    const tenSeconds = under('threshold10s', RULES.threshold10s);
    const shortCap = under('threshold10sCap5min', RULES.threshold10sCap5min);
    // Same traffic: plays and watch time do not depend on either rule.
    expect(tenSeconds.totals.plays).toBe(today.totals.plays);
    expect(tenSeconds.totals.watch_ms).toBe(today.totals.watch_ms);
    expect(tenSeconds.truth.totals.view_candidates).toBeGreaterThan(today.truth.totals.view_candidates);
    expect(tenSeconds.totals.views).toBeGreaterThan(today.totals.views);
    expect(shortCap.truth.totals.view_candidates).toBe(tenSeconds.truth.totals.view_candidates);
    expect(shortCap.truth.totals.views_capped).toBeLessThan(tenSeconds.truth.totals.views_capped);
    expect(shortCap.totals.views).toBeGreaterThan(tenSeconds.totals.views);
  });
});
