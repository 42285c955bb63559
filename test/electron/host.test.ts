import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createApiHost } from '../../core/dashboard/host.js'
import type { Push } from '../../core/contract.js'
import { FakeNode } from './fakes.js'

const info = { kind: 'dashboard' as const, version: 't', settingsEditable: false, hostOpensLogs: false, settingsNote: 'read-only here' }
const settings = { name: 'lab-0', group: 'it', groupKeyFile: '', bootstrap: [], mdnsInterface: '', autoJoin: true }

describe('createApiHost', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('coalesces many protocol events into one push per batch interval', () => {
    const node = new FakeNode()
    const host = createApiHost(node, { info, getSettings: () => settings })
    const pushes: Push[] = []
    host.subscribe((p) => pushes.push(p))
    for (let k = 0; k < 500; k++) node.emit(1 + (k % 2), k % 2 ? 'suspect' : 'alive')
    vi.advanceTimersByTime(100)
    expect(pushes).toHaveLength(1)
    const p = pushes[0]
    expect(p.type).toBe('update')
    if (p.type !== 'update') return
    expect(p.payload.events).toHaveLength(500)
    expect(p.payload.events.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
    expect(p.payload.snapshot?.members).toHaveLength(3)
    // A storm over 1 s: at most one push per 100 ms.
    for (let t = 0; t < 10; t++) {
      for (let k = 0; k < 50; k++) node.emit(1, k % 2 ? 'suspect' : 'alive')
      vi.advanceTimersByTime(100)
    }
    expect(pushes.length).toBeLessThanOrEqual(11)
    host.close()
  })

  it('sends nothing while nothing changes, and a snapshot refresh only when it differs', () => {
    const node = new FakeNode()
    const host = createApiHost(node, { info, getSettings: () => settings })
    const pushes: Push[] = []
    host.subscribe((p) => pushes.push(p))
    vi.advanceTimersByTime(100)
    expect(pushes).toHaveLength(1) // the first batch carries the initial snapshot
    vi.advanceTimersByTime(5000)
    expect(pushes).toHaveLength(1)
    node.members[1] = { ...node.members[1], lastRttMs: 3.2 } // changed silently (no event)
    vi.advanceTimersByTime(1000)
    expect(pushes).toHaveLength(2)
    host.close()
  })

  it('numbers batches so a client can see a gap, and bounds events per batch', () => {
    const node = new FakeNode()
    const host = createApiHost(node, { info, getSettings: () => settings })
    const pushes: Push[] = []
    host.subscribe((p) => pushes.push(p))
    for (let k = 0; k < 6000; k++) node.emit(1, k % 2 ? 'suspect' : 'alive')
    vi.advanceTimersByTime(100)
    node.emit(2, 'failed')
    vi.advanceTimersByTime(100)
    const batches = pushes.flatMap((p) => (p.type === 'update' ? [p.payload] : []))
    expect(batches.map((b) => b.batch)).toEqual([1, 2])
    expect(batches[0].events).toHaveLength(5000)
    expect(batches[0].droppedEvents).toBe(1000)
    expect(batches[1].droppedEvents).toBe(0)
    host.close()
  })

  it('stops following the node when the last subscriber leaves', () => {
    const node = new FakeNode()
    const host = createApiHost(node, { info, getSettings: () => settings })
    const off = host.subscribe(() => {})
    expect(node.listenerCount).toBe(2)
    off()
    expect(node.listenerCount).toBe(0)
    host.close()
  })

  it('validates before calling: bad arguments never reach the node', async () => {
    const node = new FakeNode()
    const host = createApiHost(node, { info, getSettings: () => settings })
    await expect(host.call('join', { now: true })).rejects.toThrow(/no argument/)
    expect(node.joins).toBe(0)
    await host.call('join', undefined)
    expect(node.joins).toBe(1)
    await expect(host.call('saveSettings', settings)).rejects.toThrow(/read-only here/)
    await expect(host.call('exportLog', { format: 'pdf' })).rejects.toThrow(/format/)
  })

  it('exports the log as a download in the dashboard', async () => {
    const node = new FakeNode()
    node.emit(1, 'failed')
    const host = createApiHost(node, { info, getSettings: () => settings })
    const r = (await host.call('exportLog', { format: 'jsonl' })) as { kind: string; text: string; filename: string; count: number }
    expect(r.kind).toBe('download')
    expect(r.count).toBe(1)
    expect(r.filename).toMatch(/^rollcall-lab-0-\d{8}-\d{6}\.jsonl$/)
    expect(JSON.parse(r.text.trim()).to).toBe('failed')
    const csv = (await host.call('exportLog', { format: 'csv' })) as { text: string }
    expect(csv.text.split('\r\n')[0]).toBe('seq,ts,type,id,name,from,to,incarnation,evidence')
  })
})
