// Seeded randomness for the simulator. One 32-bit run seed makes every stream in a run:
// each node's protocol Random, the network's delays and losses, and the fault schedule
// (TigerBeetle's VOPR: one seed replays the whole run). Streams are derived by hashing
// (seed, stream, index), so adding a node or a fault does not shift any other stream.

import type { Random } from '../protocol/types.js'

/** splitmix32 step: a good 32-bit mixer, used to expand seeds (Steele, Lea & Flood 2014). */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** The seed of stream `stream`, member `index`, derived from the run seed. */
export function deriveSeed(seed: number, stream: number, index = 0): number {
  return splitmix32(splitmix32(splitmix32(seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2f)) ^ Math.imul(index + 1, 0x165667b1))
}

/** Named streams, so each use of randomness has its own sequence. */
export const Stream = Object.freeze({
  network: 1,
  faults: 2,
  /** One per node life: index = node index × 64 + life number. */
  node: 3,
  formation: 4,
})

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, from PractRand): 128-bit state,
 * passes PractRand and BigCrush, and needs nothing but 32-bit integer operations.
 */
export class Rng implements Random {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    let s = seed >>> 0
    s = splitmix32(s)
    this.a = s
    s = splitmix32(s)
    this.b = s
    s = splitmix32(s)
    this.c = s
    this.d = 1
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32(): number {
    const a = this.a
    const b = this.b
    const c = this.c
    const d = this.d
    const t = (((a + b) | 0) + d) | 0
    this.d = (d + 1) | 0
    this.a = b ^ (b >>> 9)
    this.b = (c + (c << 3)) | 0
    this.c = ((c << 21) | (c >>> 11)) + t | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo)
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = a[i]
      a[i] = a[j]
      a[j] = t
    }
    return a
  }

  /** k distinct elements of `a` (a copy is shuffled; fine for the simulator's small setup draws). */
  sample<T>(a: readonly T[], k: number): T[] {
    return this.shuffle(a.slice()).slice(0, Math.max(0, k))
  }
}
