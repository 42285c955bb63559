import { describe, expect, it } from 'vitest'
import { encodeMessage } from '../../core/protocol/wire.js'
import type { MemberRecord, Message } from '../../core/protocol/types.js'
import { parseArgs, UsageError } from '../../core/sim/args.js'
import { main } from '../../core/sim/cli.js'
import { messageBytes } from '../../core/sim/network.js'
import { parsePartition, parseStall, resolveOptions, SimOptionsError, toArgs, type SimOptions } from '../../core/sim/options.js'
import { EventQueue, QueueOverflowError } from '../../core/sim/queue.js'
import { deriveSeed, Rng } from '../../core/sim/random.js'

describe('Rng', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const c = new Rng(43)
    const sa = Array.from({ length: 100 }, () => a.u32())
    expect(Array.from({ length: 100 }, () => b.u32())).toEqual(sa)
    expect(Array.from({ length: 100 }, () => c.u32())).not.toEqual(sa)
  })

  it('stays in [0, 1) and is roughly uniform', () => {
    const r = new Rng(7)
    const buckets = new Array(10).fill(0)
    for (let i = 0; i < 100_000; i++) {
      const x = r.next()
      expect(x >= 0 && x < 1).toBe(true)
      buckets[Math.floor(x * 10)]++
    }
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(500)
  })

  it('derives independent streams per (seed, stream, index)', () => {
    const seeds = new Set<number>()
    for (let s = 0; s < 4; s++) for (let i = 0; i < 1000; i++) seeds.add(deriveSeed(1, s, i))
    expect(seeds.size).toBe(4000)
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3))
  })
})

describe('EventQueue', () => {
  it('pops by time, then by insertion order', () => {
    const q = new EventQueue<{ t: number; seq: number; name: string }>()
    const names = ['a', 'b', 'c', 'd', 'e', 'f']
    const times = [5, 1, 5, 3, 1, 0]
    names.forEach((name, i) => q.push({ t: times[i], seq: 0, name }))
    const out: string[] = []
    for (let e = q.pop(); e; e = q.pop()) out.push(e.name)
    expect(out).toEqual(['f', 'b', 'e', 'd', 'a', 'c'])
  })

  it('keeps heap order over many random pushes and pops', () => {
    const q = new EventQueue<{ t: number; seq: number }>()
    const r = new Rng(3)
    let last = -1
    for (let i = 0; i < 5000; i++) {
      q.push({ t: last + r.int(100), seq: 0 })
      if (i % 3 === 0) {
        const e = q.pop()!
        expect(e.t).toBeGreaterThanOrEqual(last)
        last = e.t
      }
    }
  })

  it('stops a run whose queue outgrows its limit', () => {
    const q = new EventQueue<{ t: number; seq: number }>(10)
    for (let i = 0; i < 10; i++) q.push({ t: i, seq: 0 })
    expect(() => q.push({ t: 11, seq: 0 })).toThrow(QueueOverflowError)
  })
})

describe('messageBytes', () => {
  const rec: MemberRecord = { id: 'n07', incarnation: 3, status: 'alive', meta: { name: 'n07', addrs: ['/sim/7'], tags: { room: 'b12' } }, sig: 'abc.def' }
  const suspect: MemberRecord = { id: 'n07', incarnation: 3, status: 'suspect', evidence: { rule: 'probe-failed', observer: 'n01', atMs: 12.5, probes: [{ by: 'n01', outcome: 'timeout', atMs: 12 }] } }
  const msgs: Message[] = [
    { type: 'ping', seq: 12, digest: '10-0123abcd4567ef89' },
    { type: 'ping', seq: 1234567, requester: 'n03', digest: 'a-00000000ffffffff' },
    { type: 'ack', seq: 5, digest: 'x', incarnation: 2, status: 'alive' },
    { type: 'ack', seq: 5, digest: 'x', incarnation: 2, status: 'left', self: { ...rec, status: 'left' } },
    { type: 'ping-req', seq: 9, target: 'n11' },
    { type: 'indirect-ack', seq: 9, target: 'n11' },
    { type: 'nack', seq: 9, target: 'n11' },
    { type: 'update', records: [rec, suspect] },
    { type: 'update', records: [] },
    { type: 'sync', digest: 'd', reply: true },
    { type: 'sync', digest: 'd', reply: false, join: true, records: [rec], tombstones: [{ id: 'n09', incarnation: 14 }, { id: 'n10', incarnation: 1 }] },
    { type: 'sync', digest: 'd', reply: true, records: [], tombstones: [] },
  ]
  it.each(msgs.map((m) => [m.type, m] as const))('%s: equals the encoded length', (_t, m) => {
    expect(messageBytes(m)).toBe(encodeMessage(m).byteLength)
  })
})

describe('option text forms', () => {
  it('parses partitions and stalls', () => {
    expect(parsePartition('sym@12+5')).toEqual({ kind: 'sym', atS: 12, forS: 5 })
    expect(parsePartition('asym+2.5')).toEqual({ kind: 'asym', forS: 2.5 })
    expect(parsePartition('cut')).toEqual({ kind: 'cut' })
    expect(() => parsePartition('half@3')).toThrow(SimOptionsError)
    expect(parseStall('2:5000')).toEqual({ count: 2, ms: 5000 })
    expect(() => parseStall('5000')).toThrow(SimOptionsError)
  })

  it('round-trips options through the replay arguments', () => {
    const o: SimOptions = {
      seed: 99, nodes: 12, seconds: 45, profile: 'lan', preformed: true, loss: 0.05, dup: 0.01, delayMs: [1, 4], crash: 1, crashSilent: 1,
      stalls: [{ count: 1, ms: 5000 }], leave: 2, restart: 1, join: 3, partitions: [{ kind: 'sym', atS: 10, forS: 4 }, { kind: 'cut' }],
      faultWindow: [0.1, 0.5], config: { tombstoneTimeoutMs: 3000 },
    }
    expect(parseArgs(toArgs(o)).options).toEqual(o)
  })

  it('rejects bad arguments with a one-line reason', () => {
    expect(() => parseArgs(['--nodes', 'ten'])).toThrow(UsageError)
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown argument/)
    expect(() => parseArgs(['--config', 'nope=1'])).toThrow(/unknown field/)
    expect(() => resolveOptions({ seed: 1, nodes: 4, seconds: 10, crash: 3 })).toThrow(/too many faulty nodes/)
    expect(() => resolveOptions({ seed: 1, nodes: 4, seconds: 10, loss: 1.5 })).toThrow(/loss/)
  })
})

describe('cli main', () => {
  const io = () => {
    const o = { out: '', err: '', tty: false }
    return { sink: o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s), tty: false } }
  }

  it('exits 2 with one line on a bad flag', () => {
    const { sink, io: x } = io()
    expect(main(['--nodes', '5', '--frobnicate'], x)).toBe(2)
    expect(sink.err.trim().split('\n')).toHaveLength(1)
  })

  it('exits 2 on options the simulator refuses', () => {
    const { io: x } = io()
    expect(main(['--nodes', '3', '--crash', '3'], x)).toBe(2)
  })

  it('prints a table and exits 0 for a healthy run', () => {
    const { sink, io: x } = io()
    expect(main(['--nodes', '6', '--seconds', '10', '--seed', '5', '--crash', '1'], x)).toBe(0)
    expect(sink.out).toContain('checks            OK')
    expect(sink.out).toMatch(/crash\s+1/)
  })

  it('prints JSON with --json', () => {
    const { sink, io: x } = io()
    expect(main(['--nodes', '4', '--seconds', '5', '--seed', '5', '--json'], x)).toBe(0)
    expect(JSON.parse(sink.out).seed).toBe(5)
  })
})
