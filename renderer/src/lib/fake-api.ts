// A fake host for development (`?fake` in the URL) and the performance bench: N members, M
// events, and (unless live=0) a trickle of new events and state changes, like a busy lab.
import {
  CONTRACT_VERSION, type Evidence, type LogEntry, type Member, type Push, type RollcallApi, type Settings, type UiSnapshot,
} from './fake-types.js'

export interface FakeOptions {
  members: number
  events: number
  live?: boolean
  /** Push interval in ms when live. */
  intervalMs?: number
}

const STATUSES: Member['status'][] = ['alive', 'suspect', 'failed', 'left']
const id = (i: number) => `12D3KooWFake${String(i).padStart(6, '0')}${'x'.repeat(34)}`

export function createFakeApi(o: FakeOptions): RollcallApi & { stop(): void; pushes: number } {
  const t0 = Date.now() - o.events * 1000
  let seed = 42
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
  const members: Member[] = Array.from({ length: o.members }, (_, i) => {
    const status: Member['status'] = i === 0 ? 'alive' : i % 41 === 7 ? 'failed' : i % 53 === 9 ? 'suspect' : i % 67 === 11 ? 'left' : 'alive'
    const m: Member = {
      id: id(i), name: i === 0 ? 'lab-00 (fake)' : `lab-${String(i).padStart(3, '0')}`, status, incarnation: 1_763_700_000 + i,
      addrs: [`/ip4/10.0.${Math.floor(i / 250)}.${(i % 250) + 1}/tcp/4001`], tags: { room: `B${1 + (i % 4)}` }, since: new Date(t0).toISOString(),
      isSelf: i === 0, lastProbe: status === 'alive' ? 'ack' : status === 'left' ? undefined : 'timeout', lastRttMs: 0.5 + rnd() * 3,
    }
    if (status !== 'alive') m.evidence = evidenceFor(i, status)
    if (m.lastProbe === undefined) delete m.lastProbe
    return m
  })
  function evidenceFor(i: number, status: Member['status']): Evidence {
    if (status === 'left') return { rule: 'leave-announced', observer: id(i), atMs: 0 }
    return {
      rule: status === 'failed' ? 'suspicion-timeout' : 'probe-failed', observer: id(0), atMs: 0, timeoutMs: 4000, strength: 'weak',
      probes: [
        { by: id(0), outcome: 'timeout', atMs: 0 },
        { by: id(0), via: id((i + 1) % o.members), outcome: 'timeout', atMs: 0 },
        { by: id(0), via: id((i + 2) % o.members), outcome: 'nack', atMs: 0 },
      ],
    }
  }
  const types = ['member:joined', 'member:suspected', 'member:failed', 'member:recovered', 'member:left', 'member:updated']
  let seq = 0
  const makeEvent = (ts: number): LogEntry => {
    const i = 1 + Math.floor(rnd() * (o.members - 1))
    const type = types[Math.floor(rnd() * types.length)]
    const to = type === 'member:suspected' ? 'suspect' : type === 'member:failed' ? 'failed' : type === 'member:left' ? 'left' : 'alive'
    const e: LogEntry = { seq: ++seq, ts: new Date(ts).toISOString(), type, id: id(i), name: members[i]?.name ?? `lab-${i}`, from: 'alive', to, incarnation: 1_763_700_000 + i }
    if (to === 'suspect' || to === 'failed') e.evidence = evidenceFor(i, to)
    return e
  }
  const events: LogEntry[] = Array.from({ length: o.events }, (_, k) => makeEvent(t0 + k * 1000))
  const listeners = new Set<(p: Push) => void>()
  let state: UiSnapshot['state'] = 'joined'
  let batch = 0
  const snapshot = (): UiSnapshot => ({ self: members[0], group: 'lab-b', state, digest: `${o.members.toString(16)}-fake`, members, health: 0, at: new Date().toISOString() })
  let settings: Settings = { name: 'lab-00 (fake)', group: 'lab-b', groupKeyFile: '', bootstrap: [], mdnsInterface: '', autoJoin: true }
  let timer: ReturnType<typeof setInterval> | undefined
  const api = {
    pushes: 0,
    getInfo: async () => ({ kind: 'dashboard' as const, contractVersion: CONTRACT_VERSION, version: 'fake', settingsEditable: true, hostOpensLogs: false }),
    getSnapshot: async () => snapshot(),
    getEvents: async (q: { sinceSeq?: number; last?: number }) => {
      const after = events.filter((e) => e.seq > (q.sinceSeq ?? 0))
      return q.last ? after.slice(-q.last) : after
    },
    join: async () => {
      state = 'joined'
      return snapshot()
    },
    leave: async () => {
      state = 'left'
      return snapshot()
    },
    exportLog: async ({ format }: { format: 'jsonl' | 'csv' }) => ({ kind: 'download' as const, filename: `fake.${format}`, mime: 'text/plain', text: events.map((e) => JSON.stringify(e)).join('\n') + '\n', count: events.length }),
    openLog: async () => ({ kind: 'canceled' as const }),
    getSettings: async () => settings,
    saveSettings: async (s: Settings) => (settings = s),
    onPush(fn: (p: Push) => void) {
      listeners.add(fn)
      return () => void listeners.delete(fn)
    },
    stop() {
      if (timer) clearInterval(timer)
    },
  }
  if (o.live !== false) {
    timer = setInterval(() => {
      const e = makeEvent(Date.now())
      events.push(e)
      const i = members.findIndex((m) => m.id === e.id)
      if (i > 0 && (e.to === 'alive' || e.to === 'suspect' || e.to === 'failed' || e.to === 'left')) {
        members[i] = { ...members[i], status: e.to, since: e.ts, ...(e.evidence ? { evidence: e.evidence as Evidence } : {}) }
      }
      const push: Push = { type: 'update', payload: { batch: ++batch, events: [e], droppedEvents: 0, snapshot: { ...snapshot(), members: members.slice() } } }
      api.pushes++
      for (const fn of listeners) fn(push)
    }, o.intervalMs ?? 500)
  }
  return api as unknown as RollcallApi & { stop(): void; pushes: number }
}
