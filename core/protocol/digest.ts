// View digest: an order-independent hash of the agreed part of the member table,
// (id, incarnation, up/failed/left) for every member. Incremental: adding or removing one
// member's term costs O(1), so even a 10,000-member view keeps its digest current cheaply.

/** 32-bit FNV-1a of a string, with a seed so two independent lanes can be computed. */
export function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** Final avalanche (murmur3 fmix32). */
function mix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export interface IdHash {
  a: number
  b: number
}

export function idHash(id: string): IdHash {
  return { a: hashString(id, 0), b: hashString(id, 0x9e3779b9) }
}

/** One member's contribution to the digest, per lane. */
export function memberTerm(h: IdHash, incarnation: number, cls: number): [number, number] {
  const lo = incarnation >>> 0
  const hi = Math.floor(incarnation / 2 ** 32) >>> 0
  const a = mix((h.a ^ Math.imul(lo, 0x27d4eb2f) ^ Math.imul(hi + 1, 0x165667b1) ^ (cls + 1) * 0x9e3779b1) >>> 0)
  const b = mix((h.b ^ Math.imul(lo, 0x85ebca77) ^ Math.imul(hi + 7, 0xc2b2ae3d) ^ (cls + 3) * 0x27d4eb2f) >>> 0)
  return [a, b]
}

/** Running digest: two 32-bit lane sums, plus the member count. */
export class Digest {
  private a = 0
  private b = 0
  private n = 0
  /** The string is asked for on every ping and ack; rebuild it only after a change. */
  private text: string | undefined

  add(term: [number, number]): void {
    this.a = (this.a + term[0]) >>> 0
    this.b = (this.b + term[1]) >>> 0
    this.n++
    this.text = undefined
  }

  remove(term: [number, number]): void {
    this.a = (this.a - term[0]) >>> 0
    this.b = (this.b - term[1]) >>> 0
    this.n--
    this.text = undefined
  }

  toString(): string {
    this.text ??= this.n.toString(16) + '-' + this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0')
    return this.text
  }
}
