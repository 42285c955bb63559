// The peer graph's pure parts: positions (deterministic rings around the local node, so a member
// keeps its place while its state changes) and edges (direct reachability from probes).
import type { Member } from '../../../core/contract.js'

export interface Point {
  x: number
  y: number
}

export type EdgeKind = 'ok' | 'failed'

export interface Edge {
  from: string
  to: string
  kind: EdgeKind
  /** 'probe': our own last direct probe; 'evidence': a probe named in the member's evidence. */
  source: 'probe' | 'evidence'
  /** The probe's outcome in the protocol's words: ack, timeout, refused, unreachable, nack. */
  outcome: string
}

/** Gap between neighbours on a ring, in layout units (a node is 10 units in radius). */
const SPACING = 46
const FIRST_RING = 150
const RING_GAP = 80

/** Self at the centre; others by name on rings, each ring as full as its circumference allows. */
export function layoutRings(members: readonly Member[], selfId: string | null): Map<string, Point> {
  const pos = new Map<string, Point>()
  const others = members.filter((m) => m.id !== selfId).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
  if (selfId !== null && members.some((m) => m.id === selfId)) pos.set(selfId, { x: 0, y: 0 })
  let i = 0
  let ring = 0
  while (i < others.length) {
    const r = FIRST_RING + ring * RING_GAP
    const cap = Math.max(6, Math.floor((2 * Math.PI * r) / SPACING))
    const n = Math.min(cap, others.length - i)
    // Two members opposite each other would put self on the line between them, hiding their edge.
    const slots = n === 2 ? 3 : n
    // Offset alternate rings so labels of neighbouring rings do not line up.
    const offset = ring % 2 === 0 ? -Math.PI / 2 : -Math.PI / 2 + Math.PI / slots
    for (let k = 0; k < n; k++) {
      const a = offset + (2 * Math.PI * k) / slots
      pos.set(others[i + k].id, { x: r * Math.cos(a), y: r * Math.sin(a) })
    }
    i += n
    ring++
  }
  return pos
}

const failedOutcome = (o: string) => o !== 'ack'

/**
 * Edges for direct reachability: our own last direct probe to each member, and the probes named in
 * each member's evidence (who probed it directly, via which helper), so a link that failed while
 * the member answered others (an asymmetric fault) shows as a failed edge next to working ones.
 */
export function reachabilityEdges(members: readonly Member[], selfId: string | null): Edge[] {
  const known = new Set(members.map((m) => m.id))
  const edges = new Map<string, Edge>()
  const add = (e: Edge) => {
    if (e.from === e.to || !known.has(e.from) || !known.has(e.to)) return
    const key = e.from + '>' + e.to
    const prev = edges.get(key)
    if (!prev || (prev.source === 'evidence' && e.source === 'probe')) edges.set(key, e)
  }
  for (const m of members) {
    if (selfId !== null && m.id !== selfId && m.lastProbe) {
      add({ from: selfId, to: m.id, kind: failedOutcome(m.lastProbe) ? 'failed' : 'ok', source: 'probe', outcome: m.lastProbe })
    }
    const probes = (m.evidence?.probes ?? []) as { by: string; via?: string; outcome: string }[]
    for (const p of probes) {
      const from = p.via ?? p.by
      add({ from, to: m.id, kind: failedOutcome(p.outcome) ? 'failed' : 'ok', source: 'evidence', outcome: p.outcome })
    }
  }
  return [...edges.values()]
}

/** The member under a point (layout units), within `radius`. */
export function hitTest(pos: Map<string, Point>, p: Point, radius: number): string | null {
  let best: string | null = null
  let bestD = radius * radius
  for (const [id, q] of pos) {
    const d = (q.x - p.x) ** 2 + (q.y - p.y) ** 2
    if (d <= bestD) {
      best = id
      bestD = d
    }
  }
  return best
}
