/**
 * A small, fast, seedable PRNG (sfc32) and the random helpers the event
 * models need. `Math.random()` cannot be seeded, and `crypto.randomUUID()`
 * costs a syscall-backed CSPRNG per call; sfc32 is a few integer operations
 * and gives byte-identical streams for the same seed.
 *
 * @module
 */

/** Hex text of every 16-bit value ("0000".."ffff"): 8 lookups build a UUID. */
const HEX4: string[] = Array.from(
  { length: 65536 },
  (_, i) => i.toString(16).padStart(4, "0"),
);

const TWO_POW_32 = 4294967296;

/** Hashes a seed text to four 32-bit words (cyrb128). */
export function hashSeed(text: string): [number, number, number, number] {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** A random seed text for unseeded runs (reported in the summary). */
export function randomSeed(): string {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return `${w[0].toString(16)}${w[1].toString(16)}`;
}

/** sfc32 generator with helpers; same seed → same sequence. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare = NaN;

  /** Creates a generator from any seed text. */
  constructor(seed: string) {
    [this.#a, this.#b, this.#c, this.#d] = hashSeed(seed);
    // The first outputs of sfc32 correlate with the seed words: discard them.
    for (let i = 0; i < 16; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / TWO_POW_32;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A uniform integer in [min, max] (both inclusive). */
  range(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** A standard normal variate (Box–Muller, second value cached). */
  normal(): number {
    if (this.#spare === this.#spare) { // not NaN
      const s = this.#spare;
      this.#spare = NaN;
      return s;
    }
    let u = this.float();
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A log-normal variate with the given median and shape `sigma`. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** An exponential variate with mean `mean` (Poisson inter-arrival times). */
  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** A UUID v4 string built from this generator. */
  uuid(): string {
    const a = this.u32(), b = this.u32(), c = this.u32(), d = this.u32();
    return HEX4[a >>> 16] + HEX4[a & 0xffff] + "-" + HEX4[b >>> 16] + "-" +
      HEX4[(b & 0x0fff) | 0x4000] + "-" + HEX4[((c >>> 16) & 0x3fff) | 0x8000] +
      "-" + HEX4[c & 0xffff] + HEX4[d >>> 16] + HEX4[d & 0xffff];
  }

  /** `words` × 8 lowercase hex characters. */
  hex(words: number): string {
    let s = "";
    for (let i = 0; i < words; i++) {
      const w = this.u32();
      s += HEX4[w >>> 16] + HEX4[w & 0xffff];
    }
    return s;
  }
}

/**
 * Picks indices by fixed weights in O(1) (Walker's alias method), so weighted
 * choices in the hot path cost one random number and two array reads.
 */
export class WeightedPicker {
  readonly #prob: Float64Array;
  readonly #alias: Uint32Array;
  readonly #n: number;

  /** Builds the tables; weights must be ≥ 0 with a positive sum. */
  constructor(weights: readonly number[]) {
    const n = weights.length;
    const sum = weights.reduce((s, w) => s + w, 0);
    if (n === 0 || !(sum > 0) || weights.some((w) => !(w >= 0))) {
      throw new RangeError("weights must be non-negative with a positive sum");
    }
    this.#n = n;
    this.#prob = new Float64Array(n);
    this.#alias = new Uint32Array(n);
    const scaled = weights.map((w) => (w * n) / sum);
    const small: number[] = [];
    const large: number[] = [];
    scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
    while (small.length && large.length) {
      const s = small.pop()!, l = large.pop()!;
      this.#prob[s] = scaled[s];
      this.#alias[s] = l;
      scaled[l] = scaled[l] + scaled[s] - 1;
      (scaled[l] < 1 ? small : large).push(l);
    }
    for (const i of [...small, ...large]) this.#prob[i] = 1;
  }

  /** A random index distributed by the weights. */
  pick(rng: Rng): number {
    const x = rng.float() * this.#n;
    const i = Math.floor(x);
    return x - i < this.#prob[i] ? i : this.#alias[i];
  }
}
