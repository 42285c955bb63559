// The simulator's event queue: a binary min-heap ordered by (virtual time, insertion sequence).
// The sequence makes events at equal times run in the order they were scheduled, so a run is
// a pure function of its seed. Bounded: a run that schedules more than `limit` pending events
// is broken (a message storm or a timer loop), and stops with an error naming the time.

export class QueueOverflowError extends Error {
  override name = 'QueueOverflowError'
}

/** Anything with a time; the queue stamps the sequence number. */
export interface Timed {
  t: number
  seq: number
}

/** Default bound on pending events: far above any healthy run (10,000 nodes peak near 1M). */
export const DEFAULT_QUEUE_LIMIT = 20_000_000

export class EventQueue<E extends Timed> {
  private readonly heap: E[] = []
  private seq = 0
  /** Largest number of pending events seen (reported in the run summary). */
  maxSize = 0

  constructor(private readonly limit = DEFAULT_QUEUE_LIMIT) {}

  get size(): number {
    return this.heap.length
  }

  push(ev: E): void {
    ev.seq = this.seq++
    const h = this.heap
    if (h.length >= this.limit) {
      throw new QueueOverflowError(`event queue exceeded ${this.limit} pending events at t=${ev.t} ms (message storm or timer loop?)`)
    }
    // Sift up.
    let i = h.length
    h.push(ev)
    while (i > 0) {
      const p = (i - 1) >> 1
      const q = h[p]
      if (q.t < ev.t || (q.t === ev.t && q.seq < ev.seq)) break
      h[i] = q
      i = p
    }
    h[i] = ev
    if (h.length > this.maxSize) this.maxSize = h.length
  }

  peekTime(): number {
    return this.heap.length > 0 ? this.heap[0].t : Infinity
  }

  pop(): E | undefined {
    const h = this.heap
    const n = h.length
    if (n === 0) return undefined
    const top = h[0]
    const last = h.pop()!
    if (n > 1) {
      // Sift down.
      const m = n - 1
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= m) break
        const r = l + 1
        let c = l
        let ce = h[l]
        if (r < m) {
          const re = h[r]
          if (re.t < ce.t || (re.t === ce.t && re.seq < ce.seq)) {
            c = r
            ce = re
          }
        }
        if (last.t < ce.t || (last.t === ce.t && last.seq < ce.seq)) break
        h[i] = ce
        i = c
      }
      h[i] = last
    }
    return top
  }
}
