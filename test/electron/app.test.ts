// Window security settings and the app:// protocol handler, with the electron module mocked.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'

vi.mock('electron', () => ({
  app: {}, BrowserWindow: class {}, dialog: {}, ipcMain: {}, powerMonitor: {}, protocol: {}, session: {},
  net: { fetch: async (url: string) => new Response(fs.readFileSync(new URL(url)), { headers: { 'content-type': 'text/html' } }) },
}))

const { windowOptions, hardenContents, appProtocolHandler, CSP } = await import('../../electron/app.js')
const { loadSettings, saveSettings, defaultSettings, nodeOptionsFrom } = await import('../../electron/settings.js')

describe('windowOptions', () => {
  it('isolates and sandboxes the page, with no Node', () => {
    const w = windowOptions('/x/preload.cjs').webPreferences!
    expect(w).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, webviewTag: false })
    expect(w.preload).toBe('/x/preload.cjs')
  })
})

describe('hardenContents', () => {
  it('denies navigation, redirects, webviews and new windows', () => {
    const on = new Map<string, (e: { preventDefault: () => void }) => void>()
    let openHandler: (() => { action: string }) | undefined
    hardenContents({ on: ((ev: string, fn: never) => on.set(ev, fn)) as never, setWindowOpenHandler: ((fn: never) => (openHandler = fn)) as never })
    for (const ev of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const e = { preventDefault: vi.fn() }
      on.get(ev)!(e)
      expect(e.preventDefault).toHaveBeenCalled()
    }
    expect(openHandler!().action).toBe('deny')
  })
})

describe('appProtocolHandler', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-app-'))
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><p>hi</p>')
  fs.writeFileSync(path.join(os.tmpdir(), 'outside.txt'), 'secret')
  const handler = appProtocolHandler(dir)
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(path.join(os.tmpdir(), 'outside.txt'), { force: true })
  })

  it('serves the page with a strict CSP', async () => {
    const res = await handler(new Request('app://rollcall/index.html'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toBe(CSP)
    expect(CSP).toContain("script-src 'self'")
    expect(CSP).not.toContain('unsafe-eval')
    expect(await res.text()).toContain('hi')
  })

  it('serves nothing outside the renderer or from another host', async () => {
    expect((await handler(new Request('app://rollcall/%2e%2e/outside.txt'))).status).toBe(404)
    expect((await handler(new Request('app://other/index.html'))).status).toBe(404)
    expect((await handler(new Request('app://rollcall/missing.js'))).status).toBe(404)
  })
})

describe('settings file', () => {
  it('round-trips, and falls back to defaults with a reason when invalid', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-settings-'))
    expect(loadSettings(dir)).toEqual({ settings: defaultSettings() })
    const s = { ...defaultSettings(), name: 'lab-07', bootstrap: ['/ip4/10.0.0.7/tcp/4001'], mdnsInterface: 'eth0' }
    saveSettings(dir, s)
    expect(loadSettings(dir).settings).toEqual(s)
    expect(fs.statSync(path.join(dir, 'settings.json')).mode & 0o777).toBe(0o600)
    expect(nodeOptionsFrom(s).mdns).toEqual({ interface: 'eth0' })
    expect(nodeOptionsFrom({ ...s, mdnsInterface: 'off' }).mdns).toBe(false)
    fs.writeFileSync(path.join(dir, 'settings.json'), '{"group": "no spaces"}')
    const bad = loadSettings(dir)
    expect(bad.settings).toEqual(defaultSettings())
    expect(bad.problem).toMatch(/invalid/)
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
