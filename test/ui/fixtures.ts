import type { LogEntry, Member, RollcallApi, UiSnapshot } from '../../core/contract.js'

export function member(i: number, over: Partial<Member> = {}): Member {
  return { id: `12D3KooWpeer${String(i).padStart(4, '0')}`, name: `lab-${String(i).padStart(2, '0')}`, status: 'alive', incarnation: 5, addrs: [`/ip4/10.0.0.${i}/tcp/4001`], tags: { room: 'B12' }, since: '2026-11-21T10:42:13.000Z', isSelf: i === 0, ...over }
}

export function snapshot(members: Member[], over: Partial<UiSnapshot> = {}): UiSnapshot {
  return { self: members[0], group: 'lab-b', state: 'joined', digest: '3-abc', members, health: 0, at: '2026-11-21T10:42:14.000Z', ...over }
}

export function entry(seq: number, over: Partial<LogEntry> = {}): LogEntry {
  return { seq, ts: new Date(Date.UTC(2026, 10, 21, 10, 0, 0) + seq * 1000).toISOString(), type: 'member:joined', id: member(1 + (seq % 3)).id, name: member(1 + (seq % 3)).name, from: null, to: 'alive', incarnation: 5, ...over }
}

/** An API whose commands are vi.fn()s the test controls. */
export function fakeApi(over: Partial<Record<keyof RollcallApi, unknown>> = {}): RollcallApi {
  const base = {
    getInfo: async () => ({ kind: 'dashboard', contractVersion: 1, version: 't', settingsEditable: false, hostOpensLogs: false }),
    getSnapshot: async () => snapshot([member(0), member(1)]),
    getEvents: async () => [],
    join: async () => snapshot([member(0), member(1)]),
    leave: async () => snapshot([member(0), member(1)], { state: 'left' }),
    exportLog: async () => ({ kind: 'canceled' }),
    openLog: async () => ({ kind: 'canceled' }),
    getSettings: async () => ({ name: 'lab-00', group: 'lab-b', groupKeyFile: '', bootstrap: [], mdnsInterface: '', autoJoin: true }),
    saveSettings: async (s: unknown) => s,
    onPush: () => () => {},
  }
  return { ...base, ...over } as unknown as RollcallApi
}
