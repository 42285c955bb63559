import { describe, expect, it } from 'vitest'
import { hitTest, layoutRings, reachabilityEdges } from '../../renderer/src/lib/graph.js'
import { member } from './fixtures.js'

describe('layoutRings', () => {
  it('puts self at the centre and 200 members apart from each other', () => {
    const ms = Array.from({ length: 200 }, (_, i) => member(i))
    const pos = layoutRings(ms, ms[0].id)
    expect(pos.get(ms[0].id)).toEqual({ x: 0, y: 0 })
    expect(pos.size).toBe(200)
    const pts = [...pos.values()]
    let minD = Infinity
    for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++) minD = Math.min(minD, Math.hypot(pts[i].x - pts[j].x, pts[i].y - pts[j].y))
    expect(minD).toBeGreaterThan(30) // nodes are 10 units in radius: never overlapping
  })
  it('keeps a member in place when its state changes', () => {
    const ms = [member(0), member(1), member(2)]
    const a = layoutRings(ms, ms[0].id)
    const b = layoutRings([ms[0], { ...ms[1], status: 'failed' }, ms[2]], ms[0].id)
    expect(b.get(ms[1].id)).toEqual(a.get(ms[1].id))
  })
})

describe('reachabilityEdges', () => {
  it('draws our own probes, and failed links from evidence, so an asymmetric fault shows', () => {
    const [me, b, c] = [member(0), member(1), member(2)]
    const ms = [
      me,
      { ...b, lastProbe: 'ack' },
      { ...c, status: 'suspect' as const, lastProbe: 'timeout', evidence: { rule: 'probe-failed' as const, observer: me.id, atMs: 0, probes: [{ by: me.id, outcome: 'timeout' as const, atMs: 0 }, { by: me.id, via: b.id, outcome: 'ack' as const, atMs: 0 }] } },
    ]
    const edges = reachabilityEdges(ms, me.id)
    const key = (e: { from: string; to: string }) => `${e.from}>${e.to}`
    expect(Object.fromEntries(edges.map((e) => [key(e), `${e.kind}/${e.source}`]))).toEqual({
      [`${me.id}>${b.id}`]: 'ok/probe',
      [`${me.id}>${c.id}`]: 'failed/probe',
      [`${b.id}>${c.id}`]: 'ok/evidence',
    })
  })
})

describe('hitTest', () => {
  it('finds the nearest member within the radius', () => {
    const pos = new Map([['a', { x: 0, y: 0 }], ['b', { x: 50, y: 0 }]])
    expect(hitTest(pos, { x: 45, y: 3 }, 12)).toBe('b')
    expect(hitTest(pos, { x: 25, y: 0 }, 12)).toBeNull()
  })
})
