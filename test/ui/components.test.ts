import { fireEvent, render, screen } from '@testing-library/svelte'
import { flushSync } from 'svelte'
import { describe, expect, it } from 'vitest'
import MemberDetails from '../../renderer/src/components/MemberDetails.svelte'
import TimelineView from '../../renderer/src/components/TimelineView.svelte'
import TopBar from '../../renderer/src/components/TopBar.svelte'
import { ClusterState } from '../../renderer/src/lib/cluster.svelte.js'
import { Timeline } from '../../renderer/src/lib/timeline.svelte.js'
import { entry, fakeApi, member, snapshot } from './fixtures.js'

describe('TopBar', () => {
  it('joins from the button, showing progress, then offers Leave', async () => {
    let release!: () => void
    const c = new ClusterState(() => fakeApi({ join: () => new Promise((r) => (release = () => r(snapshot([member(0), member(1)])))) }))
    c.setSnapshot(snapshot([member(0)], { state: 'idle' }))
    render(TopBar, { cluster: c, onsettings: () => {} })
    const button = screen.getByTestId('join-leave')
    expect(button.textContent).toBe('Join')
    await fireEvent.click(button)
    expect(button.textContent).toBe('Joining…')
    expect((button as HTMLButtonElement).disabled).toBe(true)
    release()
    await new Promise((r) => setTimeout(r, 0))
    flushSync()
    expect(button.textContent).toBe('Leave')
    expect(screen.getByTestId('self-name').textContent).toBe('lab-00')
    expect(screen.getByTestId('agreement').textContent!.trim()).toBe('local view: 2 of 2 alive')
  })

  it('shows a failed leave in words', async () => {
    const c = new ClusterState(() => fakeApi({ leave: async () => { throw new Error('HostError: the agent is stopping') } }))
    c.setSnapshot(snapshot([member(0)]))
    render(TopBar, { cluster: c, onsettings: () => {} })
    await fireEvent.click(screen.getByTestId('join-leave'))
    await new Promise((r) => setTimeout(r, 0))
    flushSync()
    expect(screen.getByRole('alert').textContent).toBe('Could not leave: the agent is stopping')
  })
})

describe('MemberDetails', () => {
  it('explains the evidence in plain words with member names', () => {
    const me = member(0)
    const helper = member(2)
    const failed = member(7, {
      status: 'failed', lastRttMs: 1.4, lastProbe: 'timeout',
      evidence: { rule: 'suspicion-timeout', observer: me.id, atMs: 0, timeoutMs: 4000, probes: [{ by: me.id, outcome: 'timeout', atMs: 0 }, { by: me.id, via: helper.id, outcome: 'timeout', atMs: 0 }] },
    })
    const names = new Map([me, helper, failed].map((m) => [m.id, m.name]))
    render(MemberDetails, { member: failed, nameOf: (id: string) => names.get(id) ?? id, onclose: () => {} })
    expect(screen.getByTestId('evidence').textContent).toBe(
      'Why: failed: declared failed by lab-00; direct probe from lab-00 timed out; indirect probe via lab-02 timed out; suspicion timeout 4.0 s expired without a refutation',
    )
    expect(screen.getByText('1.4 ms')).toBeTruthy()
    expect(screen.getByText(failed.id)).toBeTruthy()
  })
})

describe('TimelineView', () => {
  it('renders only the visible rows of 10,000 entries, and filters', async () => {
    const t = new Timeline()
    const entries = Array.from({ length: 10_000 }, (_, i) => entry(i + 1, i % 100 === 0 ? { type: 'member:failed', to: 'failed' } : {}))
    t.replaceAll(entries)
    render(TimelineView, { timeline: t, entries: t.entries, types: t.types, memberNames: t.memberNames, nameOf: (id: string) => id, onselect: () => {} })
    flushSync()
    const rows = screen.getAllByTestId('event-row')
    expect(rows.length).toBeGreaterThan(0)
    expect(rows.length).toBeLessThan(100)
    expect(screen.getByTestId('timeline-count').textContent).toBe('10000 of 10000 events')
    t.typeFilter = 'member:failed'
    flushSync()
    expect(screen.getByTestId('timeline-count').textContent).toBe('100 of 10000 events')
  })
})

describe('SettingsDialog', () => {
  it('shows the agent’s flags read-only in the dashboard, with the note', async () => {
    const { setApi } = await import('../../renderer/src/lib/api.js')
    const SettingsDialog = (await import('../../renderer/src/components/SettingsDialog.svelte')).default
    setApi(fakeApi())
    const note = 'The dashboard shows the agent’s command-line flags.'
    render(SettingsDialog, { info: { kind: 'dashboard', contractVersion: 1, version: 't', settingsEditable: false, hostOpensLogs: false, settingsNote: note }, onclose: () => {} })
    await screen.findByDisplayValue('lab-00')
    expect(screen.getByTestId('settings-note').textContent).toBe(note)
    expect((screen.getByLabelText('Display name') as HTMLInputElement).closest('fieldset')!.disabled).toBe(true)
    expect(screen.queryByText('Save')).toBeNull()
  })

  it('saves in the app, and shows a rejected value in words', async () => {
    const { setApi } = await import('../../renderer/src/lib/api.js')
    const SettingsDialog = (await import('../../renderer/src/components/SettingsDialog.svelte')).default
    const saved: unknown[] = []
    setApi(fakeApi({
      saveSettings: async (s: { group: string }) => {
        if (s.group.includes(' ')) throw new Error('ContractError: group must be 1..64 letters, digits, ".", "_" or "-"')
        saved.push(s)
        return s
      },
    }))
    render(SettingsDialog, { info: { kind: 'electron', contractVersion: 1, version: 't', settingsEditable: true, hostOpensLogs: true, settingsNote: 'Saved.' }, onclose: () => {} })
    const name = (await screen.findByDisplayValue('lab-00')) as HTMLInputElement
    await fireEvent.input(name, { target: { value: 'lab-07' } })
    await fireEvent.input(screen.getByLabelText(/Bootstrap addresses/), { target: { value: '/ip4/10.0.0.7/tcp/4001\n\n' } })
    await fireEvent.submit(name.form!)
    await screen.findByText('Saved.')
    expect(saved).toEqual([{ name: 'lab-07', group: 'lab-b', groupKeyFile: '', bootstrap: ['/ip4/10.0.0.7/tcp/4001'], mdnsInterface: '', autoJoin: true }])
    await fireEvent.input(screen.getByLabelText('Group'), { target: { value: 'lab b' } })
    await fireEvent.submit(name.form!)
    expect((await screen.findByRole('alert')).textContent).toBe('group must be 1..64 letters, digits, ".", "_" or "-"')
  })
})
