// Seeded randomness for the generator. Everything random in a run comes from `Rng`
// instances whose seeds are hashes of (run seed, purpose, index), so one part of the run
// (a viewer's profile, a session, its faults) never depends on how much randomness another
// part consumed: the same seed gives the same traffic, event for event.
//
// PRNG: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, passes
// PractRand), seeded through splitmix32. Not cryptographic; it does not need to be.

/** A 32-bit hash of the parts (FNV-1a over their text, then murmur3's finaliser). */
export function hash32(...parts: ReadonlyArray<string | number>): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = typeof part === 'number' ? String(part) : part;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff; // separator, so ('ab','c') and ('a','bc') differ
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** An Rng for one purpose: `Rng.for(seed, 'session', 17)`. */
  static for(...parts: ReadonlyArray<string | number>): Rng {
    return new Rng(hash32(...parts));
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [min, max] (both included). */
  range(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Uniform real in [min, max). */
  uniform(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box–Muller; one draw per call keeps the stream simple to reason about). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median (= e^mu) and sigma of the underlying normal. */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A random (version 4 layout) UUID, from this stream: deterministic for a seed. */
  uuid(): string {
    const w = [this.u32(), this.u32(), this.u32(), this.u32()];
    const b = new Array<number>(16);
    for (let i = 0; i < 4; i++) {
      const x = w[i]!;
      b[i * 4] = x >>> 24;
      b[i * 4 + 1] = (x >>> 16) & 0xff;
      b[i * 4 + 2] = (x >>> 8) & 0xff;
      b[i * 4 + 3] = x & 0xff;
    }
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.map((x) => HEX[x]!);
    return (
      h[0]! +
      h[1] +
      h[2] +
      h[3] +
      '-' +
      h[4] +
      h[5] +
      '-' +
      h[6] +
      h[7] +
      '-' +
      h[8] +
      h[9] +
      '-' +
      h[10] +
      h[11] +
      h[12] +
      h[13] +
      h[14] +
      h[15]
    );
  }
}

/** Picks items with fixed weights in O(log n) (cumulative table + binary search). */
export class WeightedTable<T> {
  private readonly cumulative: Float64Array;
  readonly total: number;

  constructor(
    readonly items: readonly T[],
    weights: readonly number[],
  ) {
    if (items.length === 0 || items.length !== weights.length) {
      throw new Error(
        `WeightedTable needs as many weights as items (${items.length} items, ${weights.length} weights)`,
      );
    }
    this.cumulative = new Float64Array(items.length);
    let sum = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`weight ${i} is not a finite non-negative number`);
      sum += w;
      this.cumulative[i] = sum;
    }
    if (sum <= 0) throw new Error('WeightedTable needs a positive total weight');
    this.total = sum;
  }

  /** Builds a table from `{ item: weight }` pairs. */
  static of<K extends string>(weights: Readonly<Partial<Record<K, number>>>): WeightedTable<K> {
    const keys = Object.keys(weights) as K[];
    return new WeightedTable(
      keys,
      keys.map((k) => weights[k] ?? 0),
    );
  }

  index(rng: Rng): number {
    const x = rng.next() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  pick(rng: Rng): T {
    return this.items[this.index(rng)]!;
  }

  /** The probability of item i. */
  probability(i: number): number {
    const prev = i === 0 ? 0 : this.cumulative[i - 1]!;
    return (this.cumulative[i]! - prev) / this.total;
  }
}

/** Zipf weights 1 / rank^s for ranks 1..n. */
export function zipfWeight(rank: number, s: number): number {
  return 1 / Math.pow(rank, s);
}

export const clamp = (x: number, min: number, max: number): number => Math.min(max, Math.max(min, x));
