// A fake node with the part of the public API the host uses: tests emit events and log entries at will.
import type { HostedNode } from '../../core/dashboard/host.js'
import type { LogEntry, Member } from '../../core/contract.js'
import type { NodeEvent, Snapshot } from '../../core/node/node.js'

export function member(i: number, over: Partial<Member> = {}): Member {
  return { id: `peer-${i}`, name: `lab-${i}`, status: 'alive', incarnation: 1, addrs: [`/ip4/127.0.0.1/tcp/${4000 + i}`], tags: {}, since: new Date(0).toISOString(), isSelf: i === 0, ...over }
}

export class FakeNode implements HostedNode {
  members: Member[] = [member(0), member(1), member(2)]
  state: Snapshot['state'] = 'joined'
  log: LogEntry[] = []
  snapshots = 0
  joins = 0
  leaves = 0
  private listeners = new Set<(e: NodeEvent) => void>()
  private followers = new Set<(e: LogEntry) => void>()

  snapshot(): Snapshot {
    this.snapshots++
    return {
      self: this.members[0], group: 'it', state: this.state, digest: `d-${this.members.map((m) => m.status[0]).join('')}`, peerDigests: {}, members: this.members.slice(),
      stats: { health: 0 } as Snapshot['stats'], at: new Date().toISOString(),
    }
  }
  async join() {
    this.joins++
    this.state = 'joined'
  }
  async leave() {
    this.leaves++
    this.state = 'left'
  }
  events(opts: { sinceSeq?: number; limit?: number; last?: number } = {}): LogEntry[] {
    const after = this.log.filter((e) => e.seq > (opts.sinceSeq ?? 0))
    if (opts.last !== undefined) return after.slice(-opts.last)
    return after.slice(0, opts.limit ?? after.length)
  }
  followLog(fromSeq: number, fn: (e: LogEntry) => void): () => void {
    for (const e of this.log) if (e.seq > fromSeq) fn(e)
    this.followers.add(fn)
    return () => void this.followers.delete(fn)
  }
  on(_type: '*', fn: (e: NodeEvent) => void) {
    this.listeners.add(fn)
    return this
  }
  off(_type: '*', fn: (e: NodeEvent) => void) {
    this.listeners.delete(fn)
    return this
  }
  get listenerCount() {
    return this.listeners.size + this.followers.size
  }
  /** A protocol event: changes a member, appends to the log, notifies like the real node. */
  emit(i: number, to: Member['status']) {
    const m = this.members[i]
    const from = m.status
    this.members[i] = { ...m, status: to }
    const entry: LogEntry = { seq: this.log.length + 1, ts: new Date().toISOString(), type: `member:${to === 'suspect' ? 'suspected' : to === 'alive' ? 'recovered' : to}`, id: m.id, name: m.name, from, to, incarnation: m.incarnation }
    this.log.push(entry)
    for (const f of this.followers) f(entry)
    const ev = { ...entry, atMs: 0 } as unknown as NodeEvent
    for (const l of this.listeners) l(ev)
  }
}
