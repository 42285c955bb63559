// The Electron main-process wiring in Node, with the electron module mocked (the binary cannot run here).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { COMMAND_NAMES, commandChannel, PUSH_CHANNEL, type Push } from '../../core/contract.js'
import { createApiHost } from '../../core/dashboard/host.js'
import { APP_ORIGIN, forwardPushes, isTrustedSender, registerIpcHandlers } from '../../electron/ipc.js'
import { FakeNode } from './fakes.js'

const electron = vi.hoisted(() => {
  const handlers = new Map<string, (...a: unknown[]) => unknown>()
  return {
    handlers,
    exposed: [] as [string, unknown][],
    ipcMain: { handle: (ch: string, fn: (...a: unknown[]) => unknown) => handlers.set(ch, fn), removeHandler: (ch: string) => handlers.delete(ch) },
    ipcRenderer: { invoke: vi.fn(async (...a: unknown[]) => a), on: vi.fn(), removeListener: vi.fn(), send: vi.fn(), sendSync: vi.fn() },
  }
})

vi.mock('electron', () => ({
  ipcMain: electron.ipcMain,
  ipcRenderer: electron.ipcRenderer,
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => electron.exposed.push([key, api]) },
}))

const info = { kind: 'electron' as const, version: 't', settingsEditable: true, hostOpensLogs: true }
const settings = { name: 'lab-0', group: 'it', groupKeyFile: '', bootstrap: [], mdnsInterface: '', autoJoin: true }
const WINDOW_ID = 7
const trusted = { sender: { id: WINDOW_ID }, senderFrame: { url: `${APP_ORIGIN}/index.html`, parent: null } }

function wire(node = new FakeNode()) {
  const { ipcMain } = electron
  const host = createApiHost(node, { info, getSettings: () => settings, saveSettings: (s) => s })
  const log = vi.fn()
  const unregister = registerIpcHandlers({ ipcMain: ipcMain as never, host, windowContentsId: () => WINDOW_ID, allowedOrigins: [APP_ORIGIN], log })
  const call = (name: string, event: unknown, ...args: unknown[]) => electron.handlers.get(commandChannel(name as never))!(event, ...args)
  return { node, host, call, log, unregister }
}

describe('registerIpcHandlers', () => {
  afterEach(() => electron.handlers.clear())

  it('registers one handler per contract command, and removes them', () => {
    const w = wire()
    expect([...electron.handlers.keys()].sort()).toEqual(COMMAND_NAMES.map(commandChannel).sort())
    w.unregister()
    expect(electron.handlers.size).toBe(0)
  })

  it('answers the app window', async () => {
    const w = wire()
    const snap = (await w.call('getSnapshot', trusted)) as { self: { name: string } }
    expect(snap.self.name).toBe('lab-0')
    await w.call('join', trusted)
    expect(w.node.joins).toBe(1)
  })

  it.each([
    ['another window', { sender: { id: 99 }, senderFrame: { url: `${APP_ORIGIN}/index.html`, parent: null } }],
    ['an iframe in our window', { sender: { id: WINDOW_ID }, senderFrame: { url: `${APP_ORIGIN}/index.html`, parent: {} } }],
    ['a page the window navigated to', { sender: { id: WINDOW_ID }, senderFrame: { url: 'https://evil.example/', parent: null } }],
    ['a look-alike origin', { sender: { id: WINDOW_ID }, senderFrame: { url: `${APP_ORIGIN}.evil.example/`, parent: null } }],
    ['a file URL', { sender: { id: WINDOW_ID }, senderFrame: { url: 'file:///etc/passwd', parent: null } }],
    ['a destroyed frame', { sender: { id: WINDOW_ID }, senderFrame: null }],
  ])('refuses %s and never reaches the node', async (_what, event) => {
    const w = wire()
    await expect(w.call('leave', event)).rejects.toThrow(/refused/)
    expect(w.node.leaves).toBe(0)
    expect(w.log).toHaveBeenCalledWith('warn', expect.stringContaining('untrusted'), expect.anything())
  })

  it('validates arguments with the contract', async () => {
    const w = wire()
    await expect(w.call('exportLog', trusted, { format: '../../etc/passwd' })).rejects.toThrow(/format/)
    await expect(w.call('saveSettings', trusted, { ...settings, group: 'no spaces allowed' })).rejects.toThrow(/group/)
    await expect(w.call('getEvents', trusted, { last: 'all' })).rejects.toThrow(/last/)
    await expect(w.call('leave', trusted, 1, 2)).rejects.toThrow(/at most one argument/)
    expect(w.node.leaves).toBe(0)
  })
})

describe('isTrustedSender', () => {
  it('needs a window', () => {
    expect(isTrustedSender(trusted, undefined, [APP_ORIGIN])).toBe(false)
    expect(isTrustedSender(trusted, WINDOW_ID, [APP_ORIGIN])).toBe(true)
  })
})

describe('forwardPushes', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('sends one IPC message per batch, not one per protocol event', () => {
    const node = new FakeNode()
    const host = createApiHost(node, { info, getSettings: () => settings })
    const send = vi.fn()
    forwardPushes(host, send)
    for (let k = 0; k < 1000; k++) node.emit(1 + (k % 2), k % 3 ? 'suspect' : 'alive')
    vi.advanceTimersByTime(350)
    expect(send).toHaveBeenCalledTimes(1)
    const [channel, push] = send.mock.calls[0] as [string, Push]
    expect(channel).toBe(PUSH_CHANNEL)
    expect(push.type === 'update' && push.payload.events.length).toBe(1000)
    host.close()
  })
})

describe('preload', () => {
  it('exposes exactly one object, derived from the contract, without ipcRenderer', async () => {
    await import('../../electron/preload.js')
    expect(electron.exposed).toHaveLength(1)
    const [key, api] = electron.exposed[0] as [string, Record<string, unknown>]
    expect(key).toBe('rollcall')
    expect(Object.keys(api).sort()).toEqual([...COMMAND_NAMES, 'onPush'].sort())
    for (const v of Object.values(api)) expect(typeof v).toBe('function')
    expect(Object.values(api)).not.toContain(electron.ipcRenderer)
    expect(Object.isFrozen(api)).toBe(true)
    // Each function invokes its own channel with at most one argument.
    await (api.exportLog as (a: unknown) => Promise<unknown>)({ format: 'csv' })
    expect(electron.ipcRenderer.invoke).toHaveBeenLastCalledWith(commandChannel('exportLog'), { format: 'csv' })
    await (api.join as () => Promise<unknown>)()
    expect(electron.ipcRenderer.invoke).toHaveBeenLastCalledWith(commandChannel('join'))
    // onPush hands the payload only (never the IPC event, which carries the sender) and unsubscribes.
    const fn = vi.fn()
    const off = (api.onPush as (f: unknown) => () => void)(fn)
    const [channel, listener] = electron.ipcRenderer.on.mock.calls[0] as [string, (e: unknown, p: unknown) => void]
    expect(channel).toBe(PUSH_CHANNEL)
    listener({ sender: 'secret' }, { type: 'notice', payload: { level: 'info', message: 'x' } })
    expect(fn).toHaveBeenCalledWith({ type: 'notice', payload: { level: 'info', message: 'x' } })
    off()
    expect(electron.ipcRenderer.removeListener).toHaveBeenCalledWith(PUSH_CHANNEL, listener)
  })
})
