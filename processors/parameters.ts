// The rule parameters: the numbers in docs/semantics.md that are configuration, not code
// ("Rule parameters" there). One plain, immutable value handed to every processor factory
// (and, as plain numbers, read from the environment by lib/config.ts, which cannot import
// this file: a unit test holds its defaults and ranges equal to these). Not to be confused
// with rules.ts, the rules a play event must keep to be accepted at all.
import { HOUR, MINUTE, SECOND } from '../lib/time.js';

export interface RuleParameters {
  /** Views rule 1: watched time that makes a view, unless the video is shorter (ms). */
  readonly viewThresholdMs: number;
  /** Views rule 2: a viewer's views of one video count at most once per this long (ms; 0 = no cap). */
  readonly repeatCapMs: number;
  /** A playback session (and a viewer's co-view window) ends after this much event-time inactivity. */
  readonly sessionGapMs: number;
  /** A session still accepts events this long after its last event + gap (watermark time). */
  readonly sessionGraceMs: number;
  /** A minute window changes in place until the watermark passes its end + this; later changes are late. */
  readonly windowGraceMs: number;
  /** Events at most this far behind the watermark are placed exactly in their session (aggregate.ts). */
  readonly allowedLatenessMs: number;
  /** The watermark trails the highest event time seen by this much. */
  readonly outOfOrdernessMs: number;
}

/** Today's rules, as docs/semantics.md states them. */
export const DEFAULT_RULE_PARAMETERS: RuleParameters = Object.freeze({
  viewThresholdMs: 30 * SECOND,
  repeatCapMs: 30 * MINUTE,
  sessionGapMs: 30 * MINUTE,
  sessionGraceMs: 5 * MINUTE,
  windowGraceMs: MINUTE,
  allowedLatenessMs: 20 * MINUTE,
  outOfOrdernessMs: 10 * SECOND,
});

/** The accepted range of each parameter, whole milliseconds, inclusive. */
export const RULE_PARAMETER_RANGES: Readonly<Record<keyof RuleParameters, readonly [min: number, max: number]>> =
  Object.freeze({
    viewThresholdMs: [SECOND, 10 * MINUTE],
    repeatCapMs: [0, 24 * HOUR],
    sessionGapMs: [MINUTE, 6 * HOUR],
    sessionGraceMs: [0, 6 * HOUR],
    windowGraceMs: [0, 6 * HOUR],
    allowedLatenessMs: [0, 6 * HOUR],
    outOfOrdernessMs: [0, HOUR],
  });

/** Every problem of `p`, as "name: what is wrong"; empty when it is valid. */
export function ruleParameterProblems(p: Partial<Record<keyof RuleParameters, unknown>>): string[] {
  const problems: string[] = [];
  for (const [name, [min, max]] of Object.entries(RULE_PARAMETER_RANGES) as [
    keyof RuleParameters,
    [number, number],
  ][]) {
    const x = p[name];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max)
      problems.push(`${name}: must be a whole number of ms in ${min}..${max}, got ${String(x)}`);
  }
  const known = new Set(Object.keys(RULE_PARAMETER_RANGES));
  for (const name of Object.keys(p)) if (!known.has(name)) problems.push(`${name}: not a rule parameter`);
  return problems;
}

/** A frozen copy of `p` after checking every parameter; throws a RangeError listing each problem. */
export function validateRuleParameters(p: RuleParameters): RuleParameters {
  const problems = ruleParameterProblems(p);
  if (problems.length) throw new RangeError(`invalid rule parameters: ${problems.join('; ')}`);
  return Object.freeze({ ...p });
}

/** The defaults with some parameters changed, validated. */
export const ruleParameters = (changes: Partial<RuleParameters> = {}): RuleParameters =>
  validateRuleParameters({ ...DEFAULT_RULE_PARAMETERS, ...changes });
