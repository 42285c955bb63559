// The Electron main process: hosts the engine through the public core API, one hardened window,
// the contract over IPC. Kept thin: the command handlers and batching are the same host the
// dashboard uses (core/dashboard/host.ts); this file adds windows, dialogs and the settings file.

import { app, BrowserWindow, dialog, ipcMain, net, powerMonitor, protocol, session, type WebContents } from 'electron'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { createNode, type NodeOptions, type RollcallNode } from '../core/index.js'
import { createApiHost, type ApiHost } from '../core/dashboard/host.js'
import type { ExportFormat, ExportResult, OpenLogResult, Settings } from '../core/contract.js'
import { APP_ORIGIN, forwardPushes, registerIpcHandlers } from './ipc.js'
import { loadSettings, nodeOptionsFrom, saveSettings } from './settings.js'

export const VERSION = '0.1.0'

/** The page's Content Security Policy: our own scripts only, no eval, no remote anything. */
export const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:", "font-src 'self'",
  "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ')

/** Largest log file the open dialog reads (the event log keeps ~40 MiB). */
const MAX_OPEN_BYTES = 64 * 1024 * 1024

type Log = (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void

export const defaultLog: Log = (level, msg, data) => {
  const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(4)} ${msg}${data ? ' ' + JSON.stringify(data) : ''}`
  if (level === 'warn') console.warn(line)
  else console.log(line)
}

/** Security options of every window (Electron's checklist): isolated, sandboxed, no Node. */
export function windowOptions(preload: string): Electron.BrowserWindowConstructorOptions {
  return {
    width: 1280, height: 820, minWidth: 760, minHeight: 520, show: false, title: 'Rollcall', backgroundColor: '#121417',
    webPreferences: {
      preload, contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false,
      webSecurity: true, allowRunningInsecureContent: false, webviewTag: false, spellcheck: false,
    },
  }
}

/** No navigation, no new windows, no webviews, no permissions: the page is one fixed app. */
export function hardenContents(contents: Pick<WebContents, 'on' | 'setWindowOpenHandler'>): void {
  contents.on('will-navigate', (e: Electron.Event) => e.preventDefault())
  contents.on('will-redirect', (e: Electron.Event) => e.preventDefault())
  contents.on('will-attach-webview', (e: Electron.Event) => e.preventDefault())
  contents.setWindowOpenHandler(() => ({ action: 'deny' }))
}

/** Serves renderer/dist under app://rollcall/ with the CSP header; nothing outside it. */
export function appProtocolHandler(distDir: string) {
  const root = path.resolve(distDir)
  return async (request: Request): Promise<Response> => {
    let url: URL
    let rel: string
    try {
      url = new URL(request.url)
      rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)
    } catch {
      return new Response('bad request', { status: 400 })
    }
    if (url.host !== 'rollcall') return new Response('not found', { status: 404 })
    const file = path.resolve(root, '.' + rel)
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file)) return new Response('not found', { status: 404 })
    const res = await net.fetch(pathToFileURL(file).toString())
    const headers = new Headers(res.headers)
    if (rel.endsWith('.html')) headers.set('content-security-policy', CSP)
    headers.set('x-content-type-options', 'nosniff')
    return new Response(res.body, { status: res.status, headers })
  }
}

export interface RunningApp {
  node: RollcallNode
  host: ApiHost
  window: BrowserWindow
  quit(): Promise<void>
}

/** Must run before app is ready: app:// behaves like https (standard, secure) so modules load. */
export function registerScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } }])
}

export interface RunOptions {
  /** The built renderer. */
  dist: string
  /** The bundled preload script. */
  preload: string
  /** The node's data dir. Default: the core's per-user state dir, shared with `rollcall` CLI commands. */
  dataDir?: string
  /** Extra node options (tests: loopback listen address). */
  nodeOverrides?: Partial<NodeOptions>
  /** Operator log lines; default: stdout/stderr. */
  log?: Log
}

export const defaultRunOptions = (): RunOptions => ({ dist: path.resolve(import.meta.dirname, '../../renderer/dist'), preload: path.join(import.meta.dirname, 'preload.cjs') })

export async function runApp(paths: RunOptions = defaultRunOptions()): Promise<RunningApp | undefined> {
  const log = paths.log ?? defaultLog
  await app.whenReady()
  const userData = app.getPath('userData')
  const loaded = loadSettings(userData)
  let settings: Settings = loaded.settings
  if (loaded.problem) log('warn', loaded.problem)

  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false))
  protocol.handle('app', appProtocolHandler(paths.dist))
  app.on('web-contents-created', (_e, contents) => hardenContents(contents))

  const node = createNode({ ...nodeOptionsFrom(settings), ...(paths.dataDir ? { dataDir: paths.dataDir } : {}), ...paths.nodeOverrides, logger: log })
  try {
    await node.start()
  } catch (err) {
    dialog.showErrorBox('Rollcall could not start', `${(err as Error).message}\n\nIf an agent already runs on this machine (rollcall agent), stop it or use its dashboard.`)
    app.quit()
    return undefined
  }

  let win: BrowserWindow | undefined
  const host = createApiHost(node, {
    info: {
      kind: 'electron', version: VERSION, settingsEditable: true, hostOpensLogs: true,
      settingsNote: 'Saved. A new display name applies now; group, group key, bootstrap addresses and the discovery interface apply when Rollcall starts next.',
    },
    getSettings: () => settings,
    saveSettings: (s) => {
      settings = saveSettings(userData, s)
      if (s.name !== node.self().name) node.setMeta({ name: s.name })
      return settings
    },
    deliverExport: async (format, text, count, suggested) => exportWithDialog(win, format, text, count, suggested),
    openLog: async () => openWithDialog(win),
  })

  win = new BrowserWindow(windowOptions(paths.preload))
  const contentsId = win.webContents.id
  const unregister = registerIpcHandlers({ ipcMain, host, windowContentsId: () => (win && !win.isDestroyed() ? contentsId : undefined), allowedOrigins: [APP_ORIGIN], log })
  const unforward = forwardPushes(host, (channel, push) => {
    if (win && !win.isDestroyed()) win.webContents.send(channel, push)
  })
  win.once('ready-to-show', () => win?.show())
  await win.loadURL(`${APP_ORIGIN}/index.html`)

  // The monotonic clock may not count suspend, so tell the core explicitly how long we slept: it
  // then treats the sleep as a stall (MODEL.md §3) and nothing timed during it counts as evidence.
  let suspendedAtMs: number | undefined
  powerMonitor.on('suspend', () => {
    suspendedAtMs = Date.now()
    log('info', 'system going to sleep')
  })
  powerMonitor.on('resume', () => {
    // Without a suspend event we do not know for how long: report just over the stall threshold.
    const sleptMs = Math.max(suspendedAtMs === undefined ? 0 : Date.now() - suspendedAtMs, node.config.stallThresholdMs + 1)
    suspendedAtMs = undefined
    log('info', 'system resumed from sleep; the node discounts the time asleep (stall detection)')
    try {
      node.notifyResume(sleptMs)
    } catch (err) {
      log('warn', 'could not tell the node about the resume', { error: String(err) })
    }
    host.notice('info', 'Resumed from sleep: the node is re-checking its members.')
  })

  if (settings.autoJoin) node.join().catch((err) => log('warn', 'auto-join failed', { error: String(err) }))

  let quitting = false
  const quit = async () => {
    if (quitting) return
    quitting = true
    unforward()
    unregister()
    host.close()
    // Leave gracefully so the others record "left", not "failed"; give up after 5 s.
    await Promise.race([node.leave().catch(() => {}), new Promise((r) => setTimeout(r, 5000))])
    await node.stop()
  }
  app.on('before-quit', (e) => {
    if (quitting) return
    e.preventDefault()
    void quit().then(() => app.quit())
  })
  app.on('window-all-closed', () => app.quit())
  app.on('second-instance', () => {
    if (win && !win.isDestroyed()) {
      if (win.isMinimized()) win.restore()
      win.focus()
    }
  })
  return { node, host, window: win, quit }
}

async function exportWithDialog(win: BrowserWindow | undefined, format: ExportFormat, text: string, count: number, suggested: string): Promise<ExportResult> {
  const opts: Electron.SaveDialogOptions = {
    title: 'Export the event log', defaultPath: path.join(app.getPath('documents'), suggested),
    filters: format === 'csv' ? [{ name: 'CSV', extensions: ['csv'] }] : [{ name: 'JSON Lines', extensions: ['jsonl'] }],
  }
  const r = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts)
  if (r.canceled || !r.filePath) return { kind: 'canceled' }
  await fs.promises.writeFile(r.filePath, text)
  return { kind: 'saved', path: r.filePath, count }
}

async function openWithDialog(win: BrowserWindow | undefined): Promise<OpenLogResult> {
  const opts: Electron.OpenDialogOptions = {
    title: 'Open an exported event log', properties: ['openFile'],
    filters: [{ name: 'Rollcall logs', extensions: ['jsonl', 'csv', 'json', 'txt'] }, { name: 'All files', extensions: ['*'] }],
  }
  const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts)
  const file = r.filePaths[0]
  if (r.canceled || !file) return { kind: 'canceled' }
  const st = await fs.promises.stat(file)
  if (st.size > MAX_OPEN_BYTES) throw new Error(`${path.basename(file)} is larger than ${MAX_OPEN_BYTES / 1024 / 1024} MiB`)
  return { kind: 'opened', name: path.basename(file), text: await fs.promises.readFile(file, 'utf8') }
}
