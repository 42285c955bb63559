import { describe, expect, it } from 'vitest'
import { suspicionMaxMs } from '../../core/protocol/config.js'
import type { Decision, Message } from '../../core/protocol/types.js'
import { aliveRecord, broadcasts, events, joinWith, keyring, leftRecord, makeNode, runUntil, sends } from './harness.js'

const PEERS = ['a', 'b', 'c', 'd']

/** Tick until the node sends a ping; return it and the time. */
function nextPing(node: ReturnType<typeof makeNode>, fromMs: number, untilMs = fromMs + 5000) {
  let found: { to: string; seq: number; atMs: number } | undefined
  let extra: Decision[] = []
  for (let i = 0; i < 1000 && !found; i++) {
    const t = node.nextDeadlineMs()
    if (t > untilMs) break
    const ds = node.handle({ type: 'tick', nowMs: t })
    extra = extra.concat(ds)
    const p = sends(ds, 'ping')[0]
    if (p) found = { to: p.to, seq: (p.msg as Extract<Message, { type: 'ping' }>).seq, atMs: t }
  }
  if (!found) throw new Error('no ping sent')
  return { ...found, decisions: extra }
}

/** A joined node between probes, and another member's strong (refused) suspicion of `victim` to hand it. */
function heardStrongSuspicion() {
  const n = makeNode()
  joinWith(n, PEERS)
  const first = nextPing(n, 0)
  n.handle({ type: 'receive', nowMs: first.atMs + 1, from: first.to, msg: { type: 'ack', seq: first.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
  const victim = PEERS.find((x) => x !== first.to)!
  const accuser = PEERS.find((x) => x !== first.to && x !== victim)!
  const t0 = first.atMs + 2
  const rec = { ...aliveRecord(victim), status: 'suspect' as const, evidence: { rule: 'connection-refused' as const, observer: accuser, atMs: 0, strength: 'strong' as const } }
  return { n, victim, accuser, t0, rec }
}

describe('onJoin', () => {
  it('broadcasts its own signed alive record and syncs with candidates', () => {
    const n = makeNode()
    n.handle({ type: 'discovered', nowMs: 0, peer: 'a' })
    const ds = n.handle({ type: 'join', nowMs: 0 })
    expect(n.selfState).toBe('joining')
    const b = broadcasts(ds)[0].msg.records[0]
    expect(b).toMatchObject({ id: 'me', status: 'alive', incarnation: 1 })
    expect(keyring.forMember('x').verify(b)).toBe(true)
    const sync = sends(ds, 'sync')[0]
    expect(sync.to).toBe('a')
    expect(sync.msg).toMatchObject({ join: true, reply: true })
  })

  it('becomes joined when a member answers with its state, and repeating join is a no-op', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    expect(n.selfState).toBe('joined')
    expect(n.members().map((m) => m.id).sort()).toEqual(['a', 'b', 'c', 'd', 'me'])
    expect(n.handle({ type: 'join', nowMs: 1 })).toEqual([])
  })

  it('describes itself before joining, without being in its own table yet', () => {
    const n = makeNode('me', {}, 7)
    expect(n.selfView()).toMatchObject({ id: 'me', incarnation: 7, isSelf: true })
    expect(n.members()).toEqual([])
    expect(n.selfState).toBe('idle')
  })

  it('runs as a group of one when nobody answers', () => {
    const n = makeNode()
    n.handle({ type: 'join', nowMs: 0 })
    runUntil(n, 5000)
    expect(n.selfState).toBe('joined')
  })
})

describe('probing', () => {
  it('probes every member once per round, in a shuffled order', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const targets: string[] = []
    let t = 0
    for (let i = 0; i < PEERS.length; i++) {
      const p = nextPing(n, t)
      targets.push(p.to)
      n.handle({ type: 'receive', nowMs: p.atMs + 2, from: p.to, msg: { type: 'ack', seq: p.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
      t = p.atMs
    }
    expect(targets.sort()).toEqual(PEERS)
    expect(n.member(targets[0])!.lastRttMs).toBe(2)
  })

  it('asks k helpers for an indirect probe after the direct probe times out', () => {
    const n = makeNode('me', { indirectChecks: 2 })
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const ds = runUntil(n, p.atMs + n.config.probeTimeoutMs)
    const reqs = sends(ds, 'ping-req')
    expect(reqs).toHaveLength(2)
    for (const r of reqs) {
      expect(r.to).not.toBe(p.to)
      expect(r.msg).toMatchObject({ target: p.to, seq: p.seq })
    }
  })

  it('suspects the target with the evidence when direct and indirect probes fail', () => {
    const n = makeNode('me', { indirectChecks: 2 })
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const reqs = sends(runUntil(n, p.atMs + n.config.probeTimeoutMs), 'ping-req')
    const [nacker, silent] = reqs.map((r) => r.to)
    // One helper could not reach the target either; the other did not even answer.
    n.handle({ type: 'receive', nowMs: p.atMs + n.config.probeTimeoutMs + 5, from: nacker, msg: { type: 'nack', seq: p.seq, target: p.to } })
    const ds = runUntil(n, p.atMs + n.config.probeIntervalMs)
    const [ev] = events(ds, 'member:suspected')
    expect(ev).toMatchObject({ id: p.to, from: 'alive', to: 'suspect' })
    expect(ev.evidence).toMatchObject({ rule: 'probe-failed', observer: 'me', strength: 'weak' })
    expect(ev.evidence!.probes![0]).toMatchObject({ by: 'me', outcome: 'timeout' })
    expect(ev.evidence!.probes!.some((x) => x.via === nacker && x.outcome === 'nack')).toBe(true)
    expect(ev.evidence!.probes!.some((x) => x.via === silent && x.outcome === 'timeout')).toBe(true)
    const rec = broadcasts(ds).at(-1)!.msg.records[0]
    expect(rec).toMatchObject({ id: p.to, status: 'suspect' })
    expect(n.localHealth).toBeGreaterThan(0) // a helper that did not nack hints at our own slowness
  })

  it('holds the accusation when no helper answered at all, probes the target again at once, and suspects it when that probe fails too', () => {
    const n = makeNode('me', { indirectChecks: 2 })
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const first = runUntil(n, p.atMs + n.config.probeIntervalMs)
    expect(sends(first, 'ping-req')).toHaveLength(2)
    expect(events(first, 'member:suspected')).toHaveLength(0)
    expect(n.status(p.to)).toBe('alive')
    expect(n.stats.inconclusiveProbes).toBe(1)
    expect(n.localHealth).toBe(2) // both helpers silent: our own loop or links may be the slow part
    // The next probe, at the end of this one's period, goes to the same member, with the longer
    // timeouts the raised health gives.
    const [again] = sends(first, 'ping')
    expect(again.to).toBe(p.to)
    const ds = runUntil(n, p.atMs + 4 * n.config.probeIntervalMs)
    const [ev] = events(ds, 'member:suspected')
    expect(ev).toMatchObject({ id: p.to, from: 'alive', to: 'suspect' })
    // Both probes are the evidence: direct and two helpers each.
    expect(ev.evidence!.probes).toHaveLength(6)
    expect(ev.evidence!.probes!.filter((x) => x.via === undefined).map((x) => x.atMs)).toEqual([p.atMs + n.config.probeTimeoutMs, expect.any(Number)])
  })

  it('forgets an inconclusive probe when the target answers the next one', () => {
    const n = makeNode('me', { indirectChecks: 2 })
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const [again] = sends(runUntil(n, p.atMs + n.config.probeIntervalMs), 'ping')
    expect(again.to).toBe(p.to)
    const seq = (again.msg as Extract<Message, { type: 'ping' }>).seq
    n.handle({ type: 'receive', nowMs: p.atMs + n.config.probeIntervalMs + 3, from: p.to, msg: { type: 'ack', seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
    // Every later probe of it goes unanswered by everyone: inconclusive again first, not a suspicion.
    let t = p.atMs + n.config.probeIntervalMs + 3
    for (let round = 0; round < PEERS.length * 2; round++) {
      const q = nextPing(n, t, t + 20_000)
      if (q.to !== p.to) {
        n.handle({ type: 'receive', nowMs: q.atMs + 1, from: q.to, msg: { type: 'ack', seq: q.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
        t = q.atMs + 1
        continue
      }
      let suspected = false
      for (let i = 0; i < 1000 && n.stats.inconclusiveProbes < 2 && !suspected; i++) {
        suspected = events(n.handle({ type: 'tick', nowMs: n.nextDeadlineMs() }), 'member:suspected').some((e) => e.id === p.to)
      }
      expect(suspected).toBe(false)
      expect(n.stats.inconclusiveProbes).toBe(2)
      expect(n.status(p.to)).toBe('alive')
      return
    }
    throw new Error(`${p.to} was not probed again`)
  })

  it('gives a probe to a member without an open connection connectAllowanceMs more before indirect probes', () => {
    for (const how of ['never connected', 'disconnected'] as const) {
      const n = makeNode('me', { indirectChecks: 2 })
      joinWith(n, PEERS, 0, how === 'disconnected')
      const urgent: Decision[] = []
      // A closed connection makes the node probe that member at once (the first one here).
      if (how === 'disconnected') for (const peer of PEERS) urgent.push(...n.handle({ type: 'disconnected', nowMs: 1, peer }))
      const first = sends(urgent, 'ping')[0]
      const p = first ? { to: first.to, atMs: 1 } : nextPing(n, 1)
      // The usual timeout passes without indirect probes: the dial may still be under way.
      expect(sends(runUntil(n, p.atMs + n.config.probeTimeoutMs + 1), 'ping-req'), how).toHaveLength(0)
      const reqs = sends(runUntil(n, p.atMs + n.config.probeTimeoutMs + n.config.connectAllowanceMs), 'ping-req')
      expect(reqs, how).toHaveLength(2)
      n.handle({ type: 'receive', nowMs: p.atMs + n.config.probeTimeoutMs + n.config.connectAllowanceMs, from: reqs[0].to, msg: { type: 'nack', seq: (reqs[0].msg as Extract<Message, { type: 'ping-req' }>).seq, target: p.to } })
      // ...and the indirect round keeps its full length before the suspicion.
      expect(events(runUntil(n, p.atMs + n.config.probeIntervalMs + n.config.connectAllowanceMs - 1), 'member:suspected'), how).toHaveLength(0)
      expect(events(runUntil(n, p.atMs + n.config.probeIntervalMs + n.config.connectAllowanceMs), 'member:suspected').map((e) => e.id), how).toEqual([p.to])
    }
  })

  it('does not suspect when a helper relays an ack', () => {
    const n = makeNode('me', { indirectChecks: 2 })
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const ds = runUntil(n, p.atMs + n.config.probeTimeoutMs)
    const req = sends(ds, 'ping-req')[0]
    n.handle({ type: 'receive', nowMs: p.atMs + n.config.probeTimeoutMs + 5, from: req.to, msg: { type: 'indirect-ack', seq: p.seq, target: p.to } })
    const later = runUntil(n, p.atMs + n.config.probeIntervalMs + 1)
    expect(events(later, 'member:suspected')).toHaveLength(0)
    expect(n.status(p.to)).toBe('alive')
    expect(n.lastDirectOutcome(p.to)).toBe('timeout') // the direct link failed: the UI shows it
  })

  it('treats a refused connection as strong evidence: suspect at once, failed soon', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const ping = { type: 'ping', seq: p.seq, digest: '' } as const
    const ds = n.handle({ type: 'send-failed', nowMs: p.atMs + 1, to: p.to, msg: ping, reason: 'refused' })
    expect(sends(ds, 'ping-req')).toHaveLength(0)
    expect(events(ds, 'member:suspected')[0].evidence).toMatchObject({ rule: 'connection-refused', strength: 'strong' })
    const later = runUntil(n, p.atMs + 1 + n.config.strongSuspicionMs)
    const [failed] = events(later, 'member:failed')
    expect(failed).toMatchObject({ id: p.to, from: 'suspect', to: 'failed' })
    expect(failed.evidence).toMatchObject({ rule: 'suspicion-timeout', strength: 'strong' })
    // The announcement follows within half the strong window (see the next tests).
    const announced = runUntil(n, p.atMs + 1 + 1.5 * n.config.strongSuspicionMs)
    expect(broadcasts([...later, ...announced]).some((b) => b.msg.records[0].status === 'failed')).toBe(true)
  })

  it('after strong evidence, holds its failed verdict\'s announcement back a moment and drops it if another arrives first', () => {
    // Every member connected to a crashed one reaches this verdict at about the same moment.
    const run = (hearOther: 'none' | 'failed' | 'refuted') => {
      const n = makeNode()
      joinWith(n, PEERS)
      const p = nextPing(n, 0)
      const t0 = p.atMs + 1
      n.handle({ type: 'send-failed', nowMs: t0, to: p.to, msg: { type: 'ping', seq: p.seq, digest: '' }, reason: 'refused' })
      const atVerdict = runUntil(n, t0 + n.config.strongSuspicionMs)
      expect(events(atVerdict, 'member:failed').map((e) => e.id)).toEqual([p.to]) // our own view, on time
      const other = PEERS.find((x) => x !== p.to)!
      const failed = { ...aliveRecord(p.to), status: 'failed' as const, evidence: { rule: 'suspicion-timeout' as const, observer: other, atMs: 0, strength: 'strong' as const } }
      const pending = broadcasts(atVerdict).filter((b) => b.msg.records[0].status === 'failed').length
      if (pending === 0 && hearOther === 'failed') n.handle({ type: 'receive', nowMs: n.nextDeadlineMs() - 0.001, from: other, msg: { type: 'update', records: [failed] } })
      if (pending === 0 && hearOther === 'refuted') n.handle({ type: 'receive', nowMs: n.nextDeadlineMs() - 0.001, from: p.to, msg: { type: 'update', records: [aliveRecord(p.to, 2)] } })
      const later = runUntil(n, t0 + 1.5 * n.config.strongSuspicionMs + 1)
      return { pending, sent: broadcasts([...atVerdict, ...later]).filter((b) => b.msg.records[0].id === p.to && b.msg.records[0].status === 'failed').length }
    }
    expect(run('none')).toEqual({ pending: 0, sent: 1 }) // held back, then sent
    expect(run('failed')).toEqual({ pending: 0, sent: 0 })
    expect(run('refuted')).toEqual({ pending: 0, sent: 0 })
  })

  it('after a closed connection, holds its announcement back a moment and drops it if another arrives first', () => {
    const run = (hearOther: boolean) => {
      const n = makeNode()
      joinWith(n, PEERS)
      const first = nextPing(n, 0)
      n.handle({ type: 'receive', nowMs: first.atMs + 1, from: first.to, msg: { type: 'ack', seq: first.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
      const victim = PEERS.find((x) => x !== first.to)!
      const t0 = first.atMs + 2
      const [check] = sends(n.handle({ type: 'disconnected', nowMs: t0, peer: victim }), 'ping')
      const ds = n.handle({ type: 'send-failed', nowMs: t0 + 1, to: victim, msg: check.msg, reason: 'refused' })
      expect(events(ds, 'member:suspected').map((e) => e.id)).toEqual([victim]) // our own view at once
      expect(broadcasts(ds)).toHaveLength(0) // the announcement waits
      if (hearOther) {
        const other = PEERS.find((x) => x !== victim)!
        const rec = { ...aliveRecord(victim), status: 'suspect' as const, evidence: { rule: 'connection-refused' as const, observer: other, atMs: 0, strength: 'strong' as const } }
        n.handle({ type: 'receive', nowMs: t0 + 2, from: other, msg: { type: 'update', records: [rec] } })
      }
      const later = runUntil(n, t0 + 1 + n.config.strongSuspicionMs / 2 + 1)
      return broadcasts(later).filter((b) => b.msg.records[0].id === victim && b.msg.records[0].status === 'suspect').length
    }
    expect(run(false)).toBe(1)
    expect(run(true)).toBe(0)
  })

  it('does not announce a failure someone else already announced', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const p = nextPing(n, 0)
    const ping = { type: 'ping', seq: p.seq, digest: '' } as const
    n.handle({ type: 'send-failed', nowMs: p.atMs + 1, to: p.to, msg: ping, reason: 'refused' })
    const other = PEERS.find((x) => x !== p.to)!
    const failed = { ...aliveRecord(p.to), status: 'failed' as const, evidence: { rule: 'suspicion-timeout' as const, observer: other, atMs: 0, strength: 'strong' as const } }
    n.handle({ type: 'receive', nowMs: p.atMs + 2, from: other, msg: { type: 'update', records: [failed] } })
    const later = runUntil(n, p.atMs + 1 + n.config.strongSuspicionMs + 1)
    expect(events(later, 'member:failed').map((e) => e.id)).toContain(p.to)
    expect(broadcasts(later).filter((b) => b.msg.records[0].status === 'failed')).toHaveLength(0)
  })

  it('probes a member at once when its connection closes', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const first = nextPing(n, 0)
    n.handle({ type: 'receive', nowMs: first.atMs + 1, from: first.to, msg: { type: 'ack', seq: first.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
    const other = PEERS.find((x) => x !== first.to)!
    const ds = n.handle({ type: 'disconnected', nowMs: first.atMs + 2, peer: other })
    expect(sends(ds, 'ping').map((s) => s.to)).toEqual([other])
  })

  it('checks strong evidence heard second-hand itself, and a refusal makes its verdict first-hand', () => {
    const { n, victim, accuser, t0, rec } = heardStrongSuspicion()
    const ds = n.handle({ type: 'receive', nowMs: t0, from: accuser, msg: { type: 'update', records: [rec] } })
    const [check] = sends(ds, 'ping')
    expect(check?.to).toBe(victim)
    n.handle({ type: 'send-failed', nowMs: t0 + 1, to: victim, msg: check.msg, reason: 'refused' })
    let failedAt = -1
    runUntil(n, t0 + 10_000, (d, t) => {
      if (failedAt < 0 && events(d, 'member:failed').some((e) => e.id === victim)) failedAt = t
    })
    // Our own refusal: the first-hand strong window from when we heard it, not the second-hand one.
    expect(failedAt).toBeGreaterThan(t0)
    expect(failedAt).toBeLessThanOrEqual(t0 + n.config.strongSuspicionMs + 1)
  })

  it('takes the first-hand window on its own refusal even when the confirmer list is full', () => {
    const peers = Array.from({ length: 12 }, (_, i) => `p${i}`)
    const n = makeNode()
    joinWith(n, peers)
    const first = nextPing(n, 0)
    n.handle({ type: 'receive', nowMs: first.atMs + 1, from: first.to, msg: { type: 'ack', seq: first.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
    const victim = peers.find((x) => x !== first.to)!
    const accusers = peers.filter((x) => x !== victim).slice(0, 10)
    const t0 = first.atMs + 2
    let check: Decision | undefined
    for (const a of accusers) {
      const rec = { ...aliveRecord(victim), status: 'suspect' as const, evidence: { rule: 'connection-refused' as const, observer: a, atMs: 0, strength: 'strong' as const } }
      check ??= sends(n.handle({ type: 'receive', nowMs: t0, from: a, msg: { type: 'update', records: [rec] } }), 'ping').find((d) => d.to === victim)
    }
    expect(check).toBeDefined()
    n.handle({ type: 'send-failed', nowMs: t0 + 1, to: victim, msg: (check as Extract<Decision, { type: 'send' }>).msg, reason: 'refused' })
    let failedAt = -1
    runUntil(n, t0 + 10_000, (d, t) => {
      if (failedAt < 0 && events(d, 'member:failed').some((e) => e.id === victim)) failedAt = t
    })
    expect(failedAt).toBeLessThanOrEqual(t0 + n.config.strongSuspicionMs + 1)
  })

  it('waits out the second-hand window for strong evidence it cannot check itself', () => {
    const { n, victim, accuser, t0, rec } = heardStrongSuspicion()
    n.handle({ type: 'receive', nowMs: t0, from: accuser, msg: { type: 'update', records: [rec] } })
    let failedAt = -1
    // Our check times out (no answer, no refusal); everyone else answers.
    runUntil(n, t0 + 10_000, (d, t) => {
      for (const s of sends(d, 'ping')) {
        if (s.to !== victim) n.handle({ type: 'receive', nowMs: t, from: s.to, msg: { type: 'ack', seq: (s.msg as { seq: number }).seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
      }
      if (failedAt < 0 && events(d, 'member:failed').some((e) => e.id === victim)) failedAt = t
    })
    expect(failedAt).toBeGreaterThan(t0 + n.config.strongSuspicionMs + 1)
  })
})

describe('suspicion (Lifeguard)', () => {
  it('starts a suspicion from gossip without rebroadcasting, and fails it on timeout', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const rec = { ...aliveRecord('a'), status: 'suspect' as const, evidence: { rule: 'probe-failed' as const, observer: 'b', atMs: 0 } }
    const ds = n.handle({ type: 'receive', nowMs: 10, from: 'b', msg: { type: 'update', records: [rec] } })
    expect(events(ds, 'member:suspected')[0].evidence).toMatchObject({ observer: 'b', source: 'b' })
    expect(broadcasts(ds)).toHaveLength(0)
    // Probe replies from everyone but a, so only the suspicion can fail it.
    const later = runUntil(n, 10 + suspicionMaxMs(n.config, 5) + 1, (d, t) => {
      for (const s of sends(d, 'ping')) {
        if (s.to !== 'a') n.handle({ type: 'receive', nowMs: t, from: s.to, msg: { type: 'ack', seq: (s.msg as { seq: number }).seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
      }
    })
    expect(events(later, 'member:failed').map((e) => e.id)).toContain('a')
  })

  it('shortens the timeout as independent members confirm', () => {
    const mk = () => {
      const n = makeNode('me', { suspicionMult: 4 })
      joinWith(n, ['a', 'b', 'c', 'd', 'e', 'f'])
      return n
    }
    const suspect = (by: string) => ({ ...aliveRecord('a'), status: 'suspect' as const, evidence: { rule: 'probe-failed' as const, observer: by, atMs: 0 } })
    const failTime = (confirmers: string[]) => {
      const n = mk()
      for (const c of confirmers) n.handle({ type: 'receive', nowMs: 0, from: c, msg: { type: 'update', records: [suspect(c)] } })
      let at = -1
      runUntil(n, 60_000, (d, t) => {
        if (at < 0 && events(d, 'member:failed').some((e) => e.id === 'a')) at = t
      })
      return at
    }
    const alone = failTime(['b'])
    const confirmed = failTime(['b', 'c', 'd'])
    expect(alone).toBeGreaterThan(0)
    expect(confirmed).toBeGreaterThan(0)
    expect(confirmed).toBeLessThan(alone)
  })
})

describe('refutation', () => {
  it('raises its incarnation above a suspicion, persisting it before broadcasting', () => {
    const n = makeNode('me', {}, 5)
    joinWith(n, PEERS)
    const claim = { id: 'me', incarnation: 5, status: 'suspect' as const, evidence: { rule: 'probe-failed' as const, observer: 'a', atMs: 0 } }
    const ds = n.handle({ type: 'receive', nowMs: 10, from: 'a', msg: { type: 'update', records: [claim] } })
    const persistIdx = ds.findIndex((d) => d.type === 'persist-incarnation')
    const bIdx = ds.findIndex((d) => d.type === 'broadcast')
    expect(persistIdx).toBeGreaterThanOrEqual(0)
    expect(persistIdx).toBeLessThan(bIdx)
    expect(n.selfIncarnation).toBe(6)
    expect(broadcasts(ds)[0].msg.records[0]).toMatchObject({ id: 'me', incarnation: 6, status: 'alive' })
  })

  it('refutes a suspicion carried by a ping, and answers with its new signed alive record', () => {
    const n = makeNode('me', {}, 5)
    joinWith(n, PEERS)
    const ds = n.handle({ type: 'receive', nowMs: 10, from: 'a', msg: { type: 'ping', seq: 9, digest: 'x', suspect: 5 } })
    expect(n.selfIncarnation).toBe(6)
    const ack = sends(ds, 'ack')[0].msg as Extract<Message, { type: 'ack' }>
    expect(ack).toMatchObject({ seq: 9, incarnation: 6, self: { id: 'me', incarnation: 6, status: 'alive' } })
    expect(keyring.forMember('x').verify(ack.self!)).toBe(true)
  })

  it('tells a suspect member in its probe, and takes the refutation from the ack', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ ...aliveRecord('a'), status: 'suspect', evidence: { rule: 'probe-failed', observer: 'b', atMs: 0 } }] } })
    let ping: { to: string; msg: Extract<Message, { type: 'ping' }> } | undefined
    runUntil(n, 3000, (d) => {
      const p = sends(d, 'ping').find((x) => x.to === 'a')
      if (p && !ping) ping = p as never
    })
    expect(ping?.msg.suspect).toBe(1)
    n.handle({ type: 'receive', nowMs: 3001, from: 'a', msg: { type: 'ack', seq: ping!.msg.seq, digest: '', incarnation: 2, status: 'alive', self: aliveRecord('a', 2) } })
    expect(n.status('a')).toBe('alive')
    expect(n.incarnationOf('a')).toBe(2)
  })

  it('ignores claims about an older life', () => {
    const n = makeNode('me', {}, 5)
    joinWith(n, PEERS)
    const ds = n.handle({ type: 'receive', nowMs: 10, from: 'a', msg: { type: 'update', records: [{ id: 'me', incarnation: 4, status: 'failed' }] } })
    expect(broadcasts(ds)).toHaveLength(0)
    expect(n.selfIncarnation).toBe(5)
  })

  it('is accepted by others as recovery (higher incarnation wins)', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ id: 'a', incarnation: 1, status: 'suspect', evidence: { rule: 'probe-failed', observer: 'b', atMs: 0 } }] } })
    const ds = n.handle({ type: 'receive', nowMs: 2, from: 'a', msg: { type: 'update', records: [aliveRecord('a', 2)] } })
    expect(events(ds, 'member:recovered')[0]).toMatchObject({ id: 'a', from: 'suspect', to: 'alive', incarnation: 2 })
    expect(events(ds, 'member:recovered')[0].evidence!.rule).toBe('refuted')
  })
})

describe('authority', () => {
  it('ignores a left announced by someone else (bad signature)', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const forged = { ...leftRecord('a'), sig: keyring.forMember('b').sign({ ...leftRecord('a'), id: 'b' }) }
    const ds = n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [forged] } })
    expect(n.status('a')).toBe('alive')
    expect(ds.some((d) => d.type === 'log' && d.level === 'warn')).toBe(true)
    expect(n.stats.recordsRejected).toBe(1)
  })

  it('ignores alive at a higher incarnation without the member\'s signature', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ ...aliveRecord('a', 9), sig: 'forged' }] } })
    expect(n.incarnationOf('a')).toBe(1)
  })

  it('ignores suspicions about an incarnation nobody has proven', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ id: 'a', incarnation: 99, status: 'failed' }] } })
    expect(n.status('a')).toBe('alive')
  })

  it('ignores a replayed, validly signed statement from an earlier life', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'a', msg: { type: 'update', records: [aliveRecord('a', 3)] } })
    // An old, genuinely signed "a left at 2" (e.g. captured and replayed) must not take a out.
    n.handle({ type: 'receive', nowMs: 2, from: 'b', msg: { type: 'update', records: [leftRecord('a', 2)] } })
    n.handle({ type: 'receive', nowMs: 3, from: 'b', msg: { type: 'sync', digest: 'x', records: [leftRecord('a', 2), aliveRecord('a', 1)], reply: false } })
    expect(n.status('a')).toBe('alive')
    expect(n.incarnationOf('a')).toBe(3)
  })

  it('keeps left final for its incarnation', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'a', msg: { type: 'update', records: [leftRecord('a', 1)] } })
    n.handle({ type: 'receive', nowMs: 2, from: 'b', msg: { type: 'update', records: [{ id: 'a', incarnation: 1, status: 'failed' }] } })
    n.handle({ type: 'receive', nowMs: 3, from: 'b', msg: { type: 'update', records: [aliveRecord('a', 1)] } })
    expect(n.status('a')).toBe('left')
    const ds = n.handle({ type: 'receive', nowMs: 4, from: 'a', msg: { type: 'update', records: [aliveRecord('a', 2)] } })
    expect(events(ds, 'member:joined')[0]).toMatchObject({ id: 'a', from: 'left', to: 'alive', incarnation: 2 })
  })
})

describe('onLeave', () => {
  it('announces left by broadcast and directly, answers probes as left, then stops', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const ds = n.handle({ type: 'leave', nowMs: 100 })
    expect(n.selfState).toBe('leaving')
    expect(broadcasts(ds)[0].msg.records[0]).toMatchObject({ id: 'me', status: 'left' })
    expect(sends(ds, 'update').length).toBe(n.config.leaveDirectFanout)
    const ack = n.handle({ type: 'receive', nowMs: 150, from: 'a', msg: { type: 'ping', seq: 3, digest: 'x' } })
    expect(sends(ack, 'ack')[0].msg).toMatchObject({ status: 'left', self: { id: 'me', status: 'left' } })
    runUntil(n, 100 + n.config.leaveGraceMs)
    expect(n.selfState).toBe('left')
    expect(n.nextDeadlineMs()).toBe(Infinity)
  })

  it('rejoins with a higher incarnation', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'leave', nowMs: 0 })
    runUntil(n, 10_000)
    const ds = n.handle({ type: 'join', nowMs: 10_000 })
    expect(n.selfIncarnation).toBe(2)
    expect(ds.find((d) => d.type === 'persist-incarnation')).toEqual({ type: 'persist-incarnation', incarnation: 2 })
  })
})

describe('tombstones', () => {
  it('removes a failed member after the tombstone timeout and does not resurrect it from stale news', () => {
    const n = makeNode('me', { tombstoneTimeoutMs: 5000, tombstoneRetentionMs: 60_000 })
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ id: 'a', incarnation: 1, status: 'failed', evidence: { rule: 'suspicion-timeout', observer: 'b', atMs: 0 } }] } })
    // A failed claim from another member first gives `a` the refutation window, then fails it.
    const ds = runUntil(n, 6000, (d, t) => {
      for (const s of sends(d, 'ping')) n.handle({ type: 'receive', nowMs: t, from: s.to, msg: { type: 'ack', seq: (s.msg as { seq: number }).seq, digest: '', incarnation: 1, status: 'alive' } })
    })
    expect(events(ds, 'member:removed')[0]).toMatchObject({ id: 'a', from: 'failed', to: 'removed' })
    expect(n.member('a')).toBeUndefined()
    n.handle({ type: 'receive', nowMs: 6003, from: 'c', msg: { type: 'sync', digest: 'x', records: [aliveRecord('a', 1)], reply: false } })
    expect(n.member('a')).toBeUndefined()
    n.handle({ type: 'receive', nowMs: 6004, from: 'a', msg: { type: 'update', records: [aliveRecord('a', 2)] } })
    expect(n.status('a')).toBe('alive')
  })
})

describe('local health and stalls', () => {
  it('does not declare others failed when it wakes from a stall', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ id: 'a', incarnation: 1, status: 'suspect', evidence: { rule: 'probe-failed', observer: 'b', atMs: 0 } }] } })
    const due = n.nextDeadlineMs()
    // Frozen for 30 s: the first input after waking is the refutation that was waiting in our socket.
    const wake = due + 30_000
    const ds = n.handle({ type: 'tick', nowMs: wake })
    expect(events(ds, 'member:failed')).toHaveLength(0)
    expect(ds.some((d) => d.type === 'log' && d.msg.includes('stall'))).toBe(true)
    expect(n.stats.stalls).toBe(1)
    n.handle({ type: 'receive', nowMs: wake + 1, from: 'a', msg: { type: 'update', records: [aliveRecord('a', 2)] } })
    expect(n.status('a')).toBe('alive')
    expect(n.localHealth).toBeGreaterThan(0)
  })

  it('asks a member what it missed as soon as it wakes from a stall, and refutes a failed verdict from the answer', () => {
    // Periodic syncs far apart (≥ 45 s), so none is due when we wake from a stall of ~2 s.
    const n = makeNode('me', { syncIntervalMs: 60_000 }, 3)
    joinWith(n, PEERS)
    const wake = n.nextDeadlineMs() + n.config.stallThresholdMs + 100
    const ds = n.handle({ type: 'tick', nowMs: wake })
    const [sync] = sends(ds, 'sync')
    expect(sync).toBeDefined()
    expect(PEERS).toContain(sync.to)
    // The member answers with its state, in which we were declared failed while frozen.
    const failedMe = { id: 'me', incarnation: 3, status: 'failed' as const, evidence: { rule: 'suspicion-timeout' as const, observer: sync.to, atMs: 0 } }
    const reply = n.handle({ type: 'receive', nowMs: wake + 5, from: sync.to, msg: { type: 'sync', digest: 'other', reply: false, records: [failedMe, ...PEERS.map((p) => aliveRecord(p))] } })
    expect(n.selfIncarnation).toBe(4)
    expect(broadcasts(reply).map((b) => b.msg.records[0])).toContainEqual(expect.objectContaining({ id: 'me', incarnation: 4, status: 'alive' }))
    // Everyone that held us failed has hung up on us, so the broadcast may reach no one: the new
    // life also goes to the member that told us, as a join sync, for it to spread (see the restart tests).
    const join = sends(reply, 'sync').find((d) => d.to === sync.to)
    expect(join?.msg).toMatchObject({ join: true })
    expect((join!.msg as Extract<Message, { type: 'sync' }>).records).toContainEqual(expect.objectContaining({ id: 'me', incarnation: 4, status: 'alive' }))
  })

  it('gives the helpers their whole indirect window when it wakes late, past both probe deadlines', () => {
    // Late by 800 ms (a loaded machine, below the stall threshold): the direct deadline and the
    // period end have both passed by the time our first tick runs.
    const probingLate = () => {
      const node = makeNode('me', { indirectChecks: 2 })
      joinWith(node, PEERS)
      const ping = nextPing(node, 0)
      return { node, ping, wakeMs: ping.atMs + node.config.probeIntervalMs + 800 }
    }
    const { node: n, ping: p, wakeMs: wake } = probingLate()
    expect(wake - n.nextDeadlineMs()).toBeLessThan(n.config.stallThresholdMs)
    const ds = n.handle({ type: 'tick', nowMs: wake })
    const reqs = sends(ds, 'ping-req')
    expect(reqs).toHaveLength(2)
    expect(events(ds, 'member:suspected')).toHaveLength(0)
    const indirectMs = n.config.probeIntervalMs - n.config.probeTimeoutMs
    // A helper's relayed ack inside that window: no suspicion at all.
    const ok = n.handle({ type: 'receive', nowMs: wake + indirectMs - 1, from: reqs[0].to, msg: { type: 'indirect-ack', seq: p.seq, target: p.to } })
    expect(events(ok, 'member:suspected')).toHaveLength(0)
    expect(events(runUntil(n, wake + 3 * n.config.probeIntervalMs), 'member:suspected').filter((e) => e.id === p.to)).toHaveLength(0)
    expect(n.status(p.to)).toBe('alive')

    // Without an answer from the target (a helper nacks) the suspicion still comes, at the end of
    // the window, not at the wake.
    const { node: m, ping: q, wakeMs: wake2 } = probingLate()
    const late = m.handle({ type: 'tick', nowMs: wake2 })
    expect(events(late, 'member:suspected')).toHaveLength(0)
    m.handle({ type: 'receive', nowMs: wake2 + 1, from: sends(late, 'ping-req')[0].to, msg: { type: 'nack', seq: q.seq, target: q.to } })
    expect(events(runUntil(m, wake2 + indirectMs - 1), 'member:suspected')).toHaveLength(0)
    expect(events(runUntil(m, wake2 + indirectMs), 'member:suspected').map((e) => e.id)).toEqual([q.to])
  })

  it('waits longer for answers while its own loop runs late (below a stall), and not when it is on time', () => {
    // Late by less than half a probe timeout: no change.
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'tick', nowMs: n.nextDeadlineMs() + 0.4 * n.config.probeTimeoutMs })
    expect(n.localHealth).toBe(0)
    expect(n.stats.lateWakes).toBe(0)
    // Late by more than half a probe timeout (a loaded machine), below a stall: health 1.
    const m = makeNode()
    joinWith(m, PEERS)
    const t = m.nextDeadlineMs() + 0.6 * m.config.probeTimeoutMs
    const late = sends(m.handle({ type: 'tick', nowMs: t }), 'ping')[0]
    expect(m.stats.lateWakes).toBe(1)
    expect(m.stats.stalls).toBe(0)
    expect(m.localHealth).toBe(1)
    // The next direct probe gets 2 × probeTimeoutMs before helpers are asked: an answer at 1.5 ×
    // the unscaled timeout is still a success, and no ping-req goes out before it.
    const p = late ? { to: late.to, seq: (late.msg as Extract<Message, { type: 'ping' }>).seq, atMs: t } : nextPing(m, t, t + 20 * m.config.probeIntervalMs)
    const before = runUntil(m, p.atMs + 1.5 * m.config.probeTimeoutMs)
    expect(sends(before, 'ping-req')).toHaveLength(0)
    const ds = m.handle({ type: 'receive', nowMs: p.atMs + 1.5 * m.config.probeTimeoutMs, from: p.to, msg: { type: 'ack', seq: p.seq, digest: m.digest(), incarnation: 1, status: 'alive' } })
    expect(events(ds, 'member:suspected')).toHaveLength(0)
    expect(m.stats.probeFailures).toBe(0)
  })

  it('recovers quickly from a slow spell once its probes are answered in time, but not from slow answers', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    // Four stalls (a machine busy starting many processes): health 2 each, up to the cap.
    let t = 0
    for (let i = 0; i < 4; i++) {
      t = n.nextDeadlineMs() + n.config.stallThresholdMs + 1
      n.handle({ type: 'tick', nowMs: t })
    }
    expect(n.localHealth).toBe(8)
    const ack = (p: { to: string; seq: number }, atMs: number) =>
      n.handle({ type: 'receive', nowMs: atMs, from: p.to, msg: { type: 'ack', seq: p.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })

    // An answer slower than the unscaled probe timeout (still inside the scaled one): down by one.
    const slow = nextPing(n, t, t + 20 * n.config.probeIntervalMs)
    ack(slow, slow.atMs + n.config.probeTimeoutMs + 1)
    expect(n.localHealth).toBe(7)

    // A timely answer halves it, and the next probe follows at the healthier period.
    const quick = nextPing(n, slow.atMs + 1, slow.atMs + 20 * n.config.probeIntervalMs)
    ack(quick, quick.atMs + 10)
    expect(n.localHealth).toBe(3)
    const next = nextPing(n, quick.atMs + 11, quick.atMs + 20 * n.config.probeIntervalMs)
    expect(next.atMs - quick.atMs).toBeLessThanOrEqual(4 * n.config.probeIntervalMs)
    ack(next, next.atMs + 10)
    expect(n.localHealth).toBe(1)
  })
})

describe('a member back from failure (restart)', () => {
  /** A joined node that holds `a` failed (its own refused probe, then the strong window), or only suspect. */
  function holdsA(status: 'failed' | 'suspect' = 'failed') {
    const n = makeNode()
    joinWith(n, PEERS)
    let t = 0
    for (let i = 0; i < 20; i++) {
      const p = nextPing(n, t)
      t = p.atMs + 1
      if (p.to !== 'a') {
        n.handle({ type: 'receive', nowMs: t, from: p.to, msg: { type: 'ack', seq: p.seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
        continue
      }
      n.handle({ type: 'send-failed', nowMs: t, to: 'a', msg: { type: 'ping', seq: p.seq, digest: '' }, reason: 'refused' })
      if (status === 'suspect') break
      runUntil(n, t + n.config.strongSuspicionMs + 1)
      t += n.config.strongSuspicionMs + 1
      break
    }
    expect(n.members().find((m) => m.id === 'a')?.status).toBe(status)
    return { n, t }
  }

  it('announces the new life of a member that joins through it, so others need not sync with it', () => {
    const { n, t } = holdsA()
    const ds = n.handle({ type: 'receive', nowMs: t + 1, from: 'a', msg: { type: 'sync', digest: 'x', join: true, reply: true, records: [aliveRecord('a', 2)] } })
    expect(events(ds, 'member:recovered').map((e) => e.id)).toEqual(['a'])
    expect(broadcasts(ds).map((b) => b.msg.records[0])).toContainEqual(expect.objectContaining({ id: 'a', status: 'alive', incarnation: 2 }))
    // a join sync from a member already alive to us is no news: no announcement
    const again = n.handle({ type: 'receive', nowMs: t + 2, from: 'a', msg: { type: 'sync', digest: 'x', join: true, reply: true, records: [aliveRecord('a', 2)] } })
    expect(broadcasts(again)).toEqual([])
  })

  it('announces the new life of a failed member that syncs with it after a freeze (no join), but not news from a third member, nor a suspect member\'s syncs', () => {
    // A member woken from a freeze refutes a suspicion that was waiting in its socket before it
    // hears it was declared failed, so it hands nobody its new life as a join: its first sync
    // after the stall (digest, then its state) is what tells us.
    const { n, t } = holdsA()
    const digestOnly = n.handle({ type: 'receive', nowMs: t + 1, from: 'a', msg: { type: 'sync', digest: 'x', reply: true } })
    expect(broadcasts(digestOnly)).toEqual([])
    const ds = n.handle({ type: 'receive', nowMs: t + 2, from: 'a', msg: { type: 'sync', digest: 'x', reply: false, records: [aliveRecord('a', 2)] } })
    expect(events(ds, 'member:recovered').map((e) => e.id)).toEqual(['a'])
    expect(broadcasts(ds).map((b) => b.msg.records[0])).toContainEqual(expect.objectContaining({ id: 'a', status: 'alive', incarnation: 2 }))

    // The same news relayed by another member is not announced again (the member's own sync, or
    // the announcement by the member it joined through, reaches everyone).
    const second = holdsA()
    const relayed = second.n.handle({ type: 'receive', nowMs: second.t + 1, from: 'b', msg: { type: 'sync', digest: 'x', reply: false, records: [aliveRecord('a', 2)] } })
    expect(events(relayed, 'member:recovered').map((e) => e.id)).toEqual(['a'])
    expect(broadcasts(relayed)).toEqual([])

    // A member we only suspected kept its connections and broadcasts its own refutation: its syncs
    // (many, in a storm of suspicions) are not announced again; its join (a restart) is.
    const suspected = holdsA('suspect')
    const own = suspected.n.handle({ type: 'receive', nowMs: suspected.t + 1, from: 'a', msg: { type: 'sync', digest: 'x', reply: false, records: [aliveRecord('a', 2)] } })
    expect(suspected.n.members().find((m) => m.id === 'a')?.status).toBe('alive')
    expect(broadcasts(own)).toEqual([])
    const restarted = holdsA('suspect')
    const joined = restarted.n.handle({ type: 'receive', nowMs: restarted.t + 1, from: 'a', msg: { type: 'sync', digest: 'x', join: true, reply: true, records: [aliveRecord('a', 2)] } })
    expect(broadcasts(joined).map((b) => b.msg.records[0])).toContainEqual(expect.objectContaining({ id: 'a', status: 'alive', incarnation: 2 }))
  })

  it('syncs with a failed member discovery found again only after a moment, and not at all once it is alive', () => {
    const { n, t } = holdsA()
    const found = n.handle({ type: 'discovered', nowMs: t + 1, peer: 'a' })
    expect(sends(found, 'sync')).toEqual([])
    const later = runUntil(n, t + 1 + n.config.probeIntervalMs)
    expect(sends(later, 'sync').map((s) => s.to)).toContain('a')

    const second = holdsA()
    second.n.handle({ type: 'discovered', nowMs: second.t + 1, peer: 'a' })
    second.n.handle({ type: 'receive', nowMs: second.t + 2, from: 'b', msg: { type: 'update', records: [aliveRecord('a', 2)] } })
    const after = runUntil(second.n, second.t + 1 + second.n.config.probeIntervalMs)
    expect(sends(after, 'sync').map((s) => s.to)).not.toContain('a')
  })
})

describe('a member\'s own announcement (mDNS)', () => {
  /** A joined node that holds `a` failed: its strong suspicion from a refused probe ran out. */
  function holdsAFailed() {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ ...aliveRecord('a'), status: 'failed', evidence: { rule: 'suspicion-timeout', observer: 'b', atMs: 0 } }] } })
    runUntil(n, 1 + suspicionMaxMs(n.config, PEERS.length + 1) + n.config.probeIntervalMs)
    expect(n.members().find((m) => m.id === 'a')?.status).toBe('failed')
    return { n, t: n.nextDeadlineMs() }
  }

  it('takes a failed member\'s signed alive record at a higher incarnation at once, without contacting it', () => {
    const { n, t } = holdsAFailed()
    const ds = n.handle({ type: 'announced', nowMs: t, rec: aliveRecord('a', 2) })
    const [ev] = events(ds, 'member:recovered')
    expect(ev).toMatchObject({ id: 'a', from: 'failed', to: 'alive', incarnation: 2 })
    expect(ev.evidence).toMatchObject({ observer: 'a', source: 'a' }) // first-hand from the member itself
    // everyone on the segment heard the same packet: no broadcast, no sync with it
    expect(broadcasts(ds)).toEqual([])
    expect(sends(ds)).toEqual([])
    // its discovery that follows needs no sync either
    const found = n.handle({ type: 'discovered', nowMs: t + 1, peer: 'a' })
    expect(sends([...found, ...runUntil(n, t + 1 + n.config.probeIntervalMs)], 'sync').map((s) => s.to)).not.toContain('a')
    // its join sync is still announced once, for members that missed the packet (an ordinary
    // digest sync from it before that does not use the announcement up)
    expect(broadcasts(n.handle({ type: 'receive', nowMs: t + 2, from: 'a', msg: { type: 'sync', digest: 'x', reply: true } }))).toEqual([])
    const join = n.handle({ type: 'receive', nowMs: t + 2, from: 'a', msg: { type: 'sync', digest: 'x', join: true, reply: true, records: [aliveRecord('a', 2)] } })
    expect(broadcasts(join).map((b) => b.msg.records[0])).toContainEqual(expect.objectContaining({ id: 'a', status: 'alive', incarnation: 2 }))
    const again = n.handle({ type: 'receive', nowMs: t + 3, from: 'a', msg: { type: 'sync', digest: 'x', join: true, reply: true, records: [aliveRecord('a', 2)] } })
    expect(broadcasts(again)).toEqual([])
  })

  it('learns a new member from its announcement, signature checked', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const ds = n.handle({ type: 'announced', nowMs: 1, rec: aliveRecord('e', 5) })
    expect(events(ds, 'member:joined').map((e) => e.id)).toEqual(['e'])
    expect(n.members().find((m) => m.id === 'e')).toMatchObject({ status: 'alive', incarnation: 5 })
  })

  it('ignores unsigned, forged, stale and non-alive announcements, and its own', () => {
    const { n, t } = holdsAFailed()
    const unsigned = { ...aliveRecord('a', 2), sig: undefined }
    const forged = { ...aliveRecord('a', 2), sig: keyring.forMember('b').sign({ ...aliveRecord('a', 2), id: 'b' }) }
    for (const rec of [unsigned, forged, aliveRecord('a', 1), leftRecord('a', 2), { ...aliveRecord('a', 2), status: 'suspect' as const }]) {
      const ds = n.handle({ type: 'announced', nowMs: t, rec })
      expect(events(ds)).toEqual([])
      expect(n.members().find((m) => m.id === 'a')?.status).toBe('failed')
    }
    expect(n.stats.recordsRejected).toBe(2) // the unsigned and the forged one, each with a log line
    const self = n.handle({ type: 'announced', nowMs: t, rec: aliveRecord('me', 9) })
    expect(events(self)).toEqual([])
    expect(n.selfView().incarnation).toBe(1)
  })

  it('is ignored before joining and after leaving', () => {
    const memberEvents = (ds: Decision[]) => events(ds).filter((e) => e.type.startsWith('member:'))
    const idle = makeNode()
    expect(memberEvents(idle.handle({ type: 'announced', nowMs: 0, rec: aliveRecord('a') }))).toEqual([])
    expect(idle.members().some((m) => m.id === 'a')).toBe(false)
    const gone = makeNode()
    joinWith(gone, PEERS)
    gone.handle({ type: 'leave', nowMs: 1 })
    runUntil(gone, 1 + gone.config.leaveGraceMs + 1)
    expect(gone.selfState).toBe('left')
    expect(memberEvents(gone.handle({ type: 'announced', nowMs: 2 + gone.config.leaveGraceMs, rec: aliveRecord('e') }))).toEqual([])
    expect(gone.members().some((m) => m.id === 'e')).toBe(false)
  })

  it('still syncs with announced members while joining, so the join completes', () => {
    const n = makeNode()
    n.handle({ type: 'join', nowMs: 0 })
    n.handle({ type: 'announced', nowMs: 1, rec: aliveRecord('a') })
    expect(n.selfState).toBe('joining')
    const ds = n.handle({ type: 'discovered', nowMs: 2, peer: 'a' })
    expect(sends(ds, 'sync').map((s) => s.to)).toEqual(['a'])
    n.handle({ type: 'receive', nowMs: 3, from: 'a', msg: { type: 'sync', digest: 'x', reply: false, records: [aliveRecord('a')] } })
    expect(n.selfState).toBe('joined')
  })

  it('offers its own signed record to announce only while taking part', () => {
    const n = makeNode()
    expect(n.selfRecord()).toBeUndefined()
    n.handle({ type: 'join', nowMs: 0 })
    const rec = n.selfRecord()!
    expect(rec).toMatchObject({ id: 'me', status: 'alive', incarnation: 1 })
    expect(keyring.forMember('x').verify(rec)).toBe(true)
  })
})

describe('anti-entropy', () => {
  it('answers a differing digest with its full state, an equal one with nothing', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const same = n.handle({ type: 'receive', nowMs: 1, from: 'a', msg: { type: 'sync', digest: n.digest(), reply: true } })
    expect(sends(same, 'sync')).toHaveLength(0)
    const diff = n.handle({ type: 'receive', nowMs: 2, from: 'a', msg: { type: 'sync', digest: 'other', reply: true } })
    const reply = sends(diff, 'sync')[0].msg as Extract<Message, { type: 'sync' }>
    expect(reply.records!.map((r) => r.id).sort()).toEqual(['a', 'b', 'c', 'd', 'me'])
    expect(reply.reply).toBe(true)
  })

  it('gives two nodes with the same table the same digest', () => {
    const x = makeNode('x')
    const y = makeNode('y')
    joinWith(x, ['y', 'a', 'b'])
    joinWith(y, ['x', 'a', 'b'])
    // Each holds its own record and the other's as signed by its owner, both at incarnation 1.
    expect(x.digest()).toBe(y.digest())
  })

  it('relays an indirect probe and nacks when the target stays silent', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const ds = n.handle({ type: 'receive', nowMs: 10, from: 'a', msg: { type: 'ping-req', seq: 77, target: 'b' } })
    const ping = sends(ds, 'ping')[0]
    expect(ping.to).toBe('b')
    const relayed = n.handle({ type: 'receive', nowMs: 12, from: 'b', msg: { type: 'ack', seq: (ping.msg as { seq: number }).seq, digest: n.digest(), incarnation: 1, status: 'alive' } })
    expect(sends(relayed, 'indirect-ack')[0]).toMatchObject({ to: 'a', msg: { seq: 77, target: 'b' } })
    const ds2 = n.handle({ type: 'receive', nowMs: 20, from: 'a', msg: { type: 'ping-req', seq: 78, target: 'c' } })
    expect(sends(ds2, 'ping')[0].to).toBe('c')
    const later = runUntil(n, 20 + n.config.probeTimeoutMs)
    expect(sends(later, 'nack')[0]).toMatchObject({ to: 'a', msg: { seq: 78, target: 'c' } })
  })
})

describe('hostile accusations', () => {
  const failedClaim = (id: string, by: string) => ({ id, incarnation: 1, status: 'failed' as const, evidence: { rule: 'suspicion-timeout' as const, observer: by, atMs: 0 } })

  it('turns a failed verdict from another member into a suspicion the member can still refute', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    const ds = n.handle({ type: 'receive', nowMs: 100, from: 'b', msg: { type: 'update', records: [failedClaim('a', 'b')] } })
    expect(n.status('a')).toBe('suspect')
    expect(events(ds, 'member:failed')).toHaveLength(0)
    // `a` refutes within the window: never failed.
    n.handle({ type: 'receive', nowMs: 100 + n.config.strongSuspicionMs / 2, from: 'a', msg: { type: 'update', records: [aliveRecord('a', 2)] } })
    expect(n.status('a')).toBe('alive')
    const later = runUntil(n, 100 + n.config.strongSuspicionMs * 2)
    expect(events(later, 'member:failed').filter((e) => e.id === 'a')).toHaveLength(0)
  })

  it('fails the member once the window passes without a refutation', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 100, from: 'b', msg: { type: 'update', records: [failedClaim('a', 'b')] } })
    // Heard second-hand: the window is one probe period longer than for our own strong evidence.
    const windowMs = n.config.strongSuspicionMs + n.config.probeIntervalMs
    const early = runUntil(n, 100 + windowMs - 1)
    expect(events(early, 'member:failed').map((e) => e.id)).not.toContain('a')
    const later = runUntil(n, 100 + windowMs + 1)
    expect(events(later, 'member:failed').map((e) => e.id)).toContain('a')
  })

  it('does not let one sender fake confirmations by naming other observers', () => {
    const failAt = (forge: boolean) => {
      const n = makeNode('me', { suspicionMult: 4 })
      joinWith(n, ['a', 'b', 'c', 'd', 'e', 'f'])
      for (const obs of ['b', 'c', 'd', 'e']) {
        const from = forge ? 'b' : obs
        n.handle({ type: 'receive', nowMs: 0, from, msg: { type: 'update', records: [{ ...aliveRecord('a'), status: 'suspect', evidence: { rule: 'probe-failed', observer: obs, atMs: 0 } }] } })
      }
      let at = -1
      runUntil(n, 60_000, (d, t) => {
        if (at < 0 && events(d, 'member:failed').some((e) => e.id === 'a')) at = t
      })
      return at
    }
    expect(failAt(true)).toBeGreaterThan(failAt(false))
  })
})

describe('resumed', () => {
  it('treats a reported sleep like a stall: suspicion deadlines move out', () => {
    const n = makeNode()
    joinWith(n, PEERS)
    n.handle({ type: 'receive', nowMs: 1, from: 'b', msg: { type: 'update', records: [{ ...aliveRecord('a'), status: 'suspect', evidence: { rule: 'probe-failed', observer: 'b', atMs: 0 } }] } })
    const before = n.nextDeadlineMs()
    const ds = n.handle({ type: 'resumed', nowMs: 2, sleptMs: 60_000 })
    expect(n.stats.stalls).toBe(1)
    expect(ds.some((d) => d.type === 'log' && d.msg.includes('stall'))).toBe(true)
    const fails = runUntil(n, before + 1)
    expect(events(fails, 'member:failed')).toHaveLength(0)
  })
})
