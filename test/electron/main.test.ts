// runApp, the Electron main process, with the electron module mocked and a real node on loopback
// (mDNS off, no bootstrap: it sends nothing): window security, IPC wiring, the save dialog,
// batched pushes, sleep/resume, and a graceful leave on quit.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { commandChannel, PUSH_CHANNEL, type Push } from '../../core/contract.js'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-main-'))
const userData = path.join(root, 'userData')
fs.mkdirSync(userData)
// Never mDNS in the machine's own namespace: the app's settings turn it off.
fs.writeFileSync(path.join(userData, 'settings.json'), JSON.stringify({ name: 'desk-1', group: 'it', groupKeyFile: '', bootstrap: [], mdnsInterface: 'off', autoJoin: true }))

const m = vi.hoisted(() => {
  const { EventEmitter } = require('node:events') as typeof import('node:events')
  const handlers = new Map<string, (...a: unknown[]) => unknown>()
  const appEvents = new EventEmitter()
  const sent: [string, unknown][] = []
  const windows: { options: unknown; url?: string }[] = []
  class FakeBrowserWindow {
    webContents = { id: 41, send: (ch: string, p: unknown) => sent.push([ch, p]) }
    constructor(public options: unknown) {
      windows.push(this as unknown as { options: unknown })
    }
    once() {}
    show() {}
    focus() {}
    restore() {}
    isMinimized() { return false }
    isDestroyed() { return false }
    async loadURL(url: string) {
      ;(this as unknown as { url: string }).url = url
    }
  }
  return { handlers, appEvents, sent, windows, FakeBrowserWindow, powerMonitor: new EventEmitter(), saveTo: '' }
})

vi.mock('electron', () => ({
  app: {
    whenReady: async () => {},
    getPath: (k: string) => (k === 'userData' ? userData : root),
    on: (ev: string, fn: (...a: unknown[]) => void) => m.appEvents.on(ev, fn),
    quit: vi.fn(),
  },
  BrowserWindow: m.FakeBrowserWindow,
  ipcMain: { handle: (ch: string, fn: (...a: unknown[]) => unknown) => m.handlers.set(ch, fn), removeHandler: (ch: string) => m.handlers.delete(ch) },
  dialog: { showSaveDialog: async () => ({ canceled: false, filePath: m.saveTo }), showOpenDialog: async () => ({ canceled: true, filePaths: [] }), showErrorBox: vi.fn() },
  powerMonitor: m.powerMonitor,
  protocol: { handle: vi.fn(), registerSchemesAsPrivileged: vi.fn() },
  session: { defaultSession: { setPermissionRequestHandler: vi.fn() } },
  net: { fetch: vi.fn() },
}))

const { runApp } = await import('../../electron/app.js')

const trusted = { sender: { id: 41 }, senderFrame: { url: 'app://rollcall/index.html', parent: null } }
const call = (name: string, event: unknown, arg?: unknown) => m.handlers.get(commandChannel(name as never))!(event, ...(arg === undefined ? [] : [arg]))

let running: Awaited<ReturnType<typeof runApp>>
const logLines: string[] = []

afterAll(async () => {
  await running?.node.stop()
  fs.rmSync(root, { recursive: true, force: true })
})

describe('runApp', () => {
  it('starts the node from the settings file and opens one hardened window on app://rollcall', async () => {
    running = await runApp({ dist: path.join(root, 'dist'), preload: '/p/preload.cjs', dataDir: path.join(root, 'data'), nodeOverrides: { listen: ['/ip4/127.0.0.1/tcp/0'], profile: 'local' }, log: (level, msg) => logLines.push(`${level} ${msg}`) })
    expect(running).toBeDefined()
    expect(m.windows).toHaveLength(1)
    const prefs = (m.windows[0].options as { webPreferences: Record<string, unknown> }).webPreferences
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, preload: '/p/preload.cjs' })
    expect((m.windows[0] as unknown as { url: string }).url).toBe('app://rollcall/index.html')
    await vi.waitFor(() => expect(running!.node.state).toBe('joined'), { timeout: 10_000 }) // autoJoin
  })

  it('answers the window over IPC and refuses others', async () => {
    const snap = (await call('getSnapshot', trusted)) as { self: { name: string }; group: string }
    expect(snap.self.name).toBe('desk-1')
    expect(snap.group).toBe('it')
    await expect(call('getSnapshot', { ...trusted, sender: { id: 1 } })).rejects.toThrow(/refused/)
    const info = (await call('getInfo', trusted)) as { kind: string; settingsEditable: boolean }
    expect(info).toMatchObject({ kind: 'electron', settingsEditable: true })
  })

  it('exports through the save dialog', async () => {
    m.saveTo = path.join(root, 'export.csv')
    const r = (await call('exportLog', trusted, { format: 'csv' })) as { kind: string; path: string; count: number }
    expect(r).toMatchObject({ kind: 'saved', path: m.saveTo })
    expect(r.count).toBeGreaterThan(0)
    expect(fs.readFileSync(m.saveTo, 'utf8')).toMatch(/^seq,ts,type,id,name,from,to,incarnation,evidence\r\n/)
  })

  it('saves settings (validated) and applies a new name at once', async () => {
    await expect(call('saveSettings', trusted, { name: 'x', group: 'bad group', groupKeyFile: '', bootstrap: [], mdnsInterface: 'off', autoJoin: true })).rejects.toThrow(/group/)
    await call('saveSettings', trusted, { name: 'desk-2', group: 'it', groupKeyFile: '', bootstrap: [], mdnsInterface: 'off', autoJoin: true })
    expect(JSON.parse(fs.readFileSync(path.join(userData, 'settings.json'), 'utf8')).name).toBe('desk-2')
    await vi.waitFor(() => expect(running!.node.self().name).toBe('desk-2'), { timeout: 5000 })
  })

  it('pushes batches to the window, and a notice after sleep', async () => {
    await vi.waitFor(() => expect(m.sent.some(([ch, p]) => ch === PUSH_CHANNEL && (p as Push).type === 'update')).toBe(true), { timeout: 3000 })
    const stallsBefore = running!.node.stats().protocol.stalls
    m.powerMonitor.emit('suspend')
    m.powerMonitor.emit('resume')
    // The core was told: it treats the sleep as a stall and defers its verdicts.
    expect(running!.node.stats().protocol.stalls).toBe(stallsBefore + 1)
    const notice = m.sent.find(([, p]) => (p as Push).type === 'notice')
    expect((notice![1] as Push & { type: 'notice' }).payload.message).toMatch(/Resumed from sleep/)
    expect(logLines).toContain('info system resumed from sleep; the node discounts the time asleep (stall detection)')
  })

  it('leaves the group gracefully on quit', async () => {
    const e = { preventDefault: vi.fn() }
    m.appEvents.emit('before-quit', e)
    expect(e.preventDefault).toHaveBeenCalled()
    await vi.waitFor(() => expect(running!.node.state).toBe('left'), { timeout: 10_000 })
  })
})
