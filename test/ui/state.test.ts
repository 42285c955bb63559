import { describe, expect, it } from 'vitest'
import { flushSync } from 'svelte'
import { exportCsv, exportJsonl } from '../../core/node/eventlog.js'
import { ClusterState, computeAgreement } from '../../renderer/src/lib/cluster.svelte.js'
import { MAX_TIMELINE_ENTRIES, Timeline } from '../../renderer/src/lib/timeline.svelte.js'
import { foldEntries, Replay } from '../../renderer/src/lib/replay.svelte.js'
import { parseLogText, LogFileError } from '../../renderer/src/lib/logfile.js'
import { entry, fakeApi, member, snapshot } from './fixtures.js'

describe('Timeline', () => {
  it('appends only newer entries and filters by type and member', () => {
    const t = new Timeline()
    t.replaceAll([entry(1), entry(2)])
    t.append([entry(2), entry(3, { type: 'member:failed', to: 'failed' })])
    expect(t.entries.map((e) => e.seq)).toEqual([1, 2, 3])
    t.typeFilter = 'member:failed'
    expect(t.filtered.map((e) => e.seq)).toEqual([3])
    t.typeFilter = ''
    t.memberFilter = entry(1).id
    expect(t.filtered.map((e) => e.seq)).toEqual([1])
    expect(t.types).toEqual(['member:failed', 'member:joined'])
  })

  it('counts unseen entries while paused and keeps a bounded history', () => {
    const t = new Timeline()
    t.pause()
    t.append(Array.from({ length: 10 }, (_, i) => entry(i + 1)))
    expect(t.unseen).toBe(10)
    t.resume()
    expect(t.unseen).toBe(0)
    t.append(Array.from({ length: MAX_TIMELINE_ENTRIES + 5 }, (_, i) => entry(i + 11)))
    expect(t.entries).toHaveLength(MAX_TIMELINE_ENTRIES)
    expect(t.entries.at(-1)!.seq).toBe(MAX_TIMELINE_ENTRIES + 15)
  })
})

describe('ClusterState', () => {
  it('shows Joining… while the join runs, then the new state', async () => {
    let release!: () => void
    const joined = snapshot([member(0), member(1)])
    const c = new ClusterState(() => fakeApi({ join: () => new Promise((r) => (release = () => r(joined))) }))
    c.setSnapshot(snapshot([member(0)], { state: 'idle' }))
    expect(c.canJoin).toBe(true)
    const p = c.join()
    expect(c.progress).toBe('Joining…')
    release()
    await p
    expect(c.progress).toBeNull()
    expect(c.canJoin).toBe(false)
  })

  it('turns a failed leave into words', async () => {
    const c = new ClusterState(() => fakeApi({ leave: async () => { throw new Error('NodeNotStartedError: the node is not started: call start() first') } }))
    c.setSnapshot(snapshot([member(0)]))
    await c.leave()
    expect(c.error).toBe('Could not leave: NodeNotStartedError: the node is not started: call start() first')
    expect(c.action).toBe('idle')
  })

  it('detects missed batches', () => {
    const c = new ClusterState(() => fakeApi())
    expect(c.applyBatch({ batch: 1, events: [], droppedEvents: 0 })).toBe(true)
    expect(c.applyBatch({ batch: 2, events: [], droppedEvents: 0, snapshot: snapshot([member(0), member(1, { status: 'failed' })]) })).toBe(true)
    expect(c.counts).toEqual({ alive: 1, suspect: 0, failed: 1, left: 0 })
    expect(c.applyBatch({ batch: 5, events: [], droppedEvents: 0 })).toBe(false)
    expect(c.applyBatch({ batch: 6, events: [], droppedEvents: 3 })).toBe(false)
  })
})

describe('computeAgreement', () => {
  const ms = [member(0), member(1), member(2), member(3, { status: 'failed' })]
  it('shows the local view when peers’ digests are unknown', () => {
    expect(computeAgreement(snapshot(ms))!.text).toBe('local view: 3 of 4 alive')
  })
  it('counts members whose digest matches ours, and names the others', () => {
    const a = computeAgreement(snapshot(ms, { digest: 'D', peerDigests: { [ms[1].id]: 'D', [ms[2].id]: 'E' } }))!
    expect(a.text).toBe('views differ: lab-02')
    const b = computeAgreement(snapshot(ms, { digest: 'D', peerDigests: { [ms[1].id]: 'D', [ms[2].id]: 'D' } }))!
    expect(b.text).toBe('views agree: 3 of 3')
  })
})

describe('parseLogText', () => {
  const entries = [
    entry(1, { type: 'self:state', id: member(0).id, name: 'lab-00', from: 'idle', to: 'joined' }),
    entry(2, { name: '=cmd|calc', id: member(1).id }),
    entry(3, { type: 'member:failed', id: member(1).id, name: '=cmd|calc', from: 'suspect', to: 'failed', evidence: { rule: 'suspicion-timeout', observer: member(0).id, atMs: 1, timeoutMs: 4000 } }),
    entry(4, { type: 'member:left', id: member(2).id, name: 'lab, "quoted"', from: 'alive', to: 'left' }),
  ]
  it.each([['jsonl', exportJsonl], ['csv', exportCsv]] as const)('reads back what the core exports as %s', (format, fn) => {
    const parsed = parseLogText(fn(entries))
    expect(parsed.format).toBe(format)
    expect(parsed.entries).toEqual(entries)
  })
  it('skips torn lines and refuses foreign files', () => {
    expect(parseLogText(exportJsonl(entries) + '{"seq": 5, "ts"').skipped).toBe(1)
    expect(() => parseLogText('hello world')).toThrow(LogFileError)
    expect(() => parseLogText('{"a": 1}\n')).toThrow(/no readable entries/)
  })
  it('folds entries into the group at a point in time', () => {
    const v = foldEntries(entries, 3)
    expect(v.selfId).toBe(member(0).id)
    expect(Object.fromEntries(v.members.map((m) => [m.name, m.status]))).toEqual({ 'lab-00': 'alive', '=cmd|calc': 'failed' })
    expect(v.members.find((m) => m.status === 'failed')!.evidence).toMatchObject({ rule: 'suspicion-timeout' })
    expect(foldEntries(entries, 4).members.find((m) => m.id === member(2).id)!.status).toBe('left')
    expect(foldEntries(entries, 0).members).toEqual([])
  })
})

describe('Replay', () => {
  it('loads a log, seeks, and reports a bad file in words', () => {
    const r = new Replay()
    expect(r.load('x.jsonl', exportJsonl([entry(1), entry(2), entry(3)]))).toBe(true)
    flushSync()
    expect(r.active).toBe(true)
    expect(r.position).toBe(3)
    r.seek(1)
    expect(r.shown).toHaveLength(1)
    r.seek(99)
    expect(r.position).toBe(3)
    expect(r.load('bad.txt', 'nope')).toBe(false)
    expect(r.error).toMatch(/^Could not open bad.txt: /)
    r.close()
    expect(r.active).toBe(false)
  })
})
