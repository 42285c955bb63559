// The browser dashboard: `rollcall agent --dashboard 127.0.0.1:PORT` serves the built renderer and
// carries the contract (core/contract.ts) over one WebSocket per page. For lab machines without a
// display, and so the UI can be tested in a real browser.
//
// Security, because any local program and any web page the user visits can reach a port on
// 127.0.0.1:
// - loopback only, unless the operator passes --dashboard-allow-remote;
// - a random token, printed once in the agent's log as the full URL, is required on every HTTP
//   request (query string, then a per-port HttpOnly SameSite=Strict cookie for the page's assets),
//   on the WebSocket upgrade and in every message; anything else is 401 or a closed socket;
// - the Host header must name this server (DNS rebinding) and a WebSocket's Origin must be this
//   server's own origin (cross-site WebSocket hijacking);
// - bounded: message size, clients, slow clients are closed rather than buffered without end.

import { randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_DASHBOARD_CLIENTS, MAX_INBOUND_MESSAGE_BYTES, parseWireRequest, type WirePush, type WireResponse } from '../contract.js'
import type { ApiHost } from './host.js'

/** A client whose socket holds more than this unsent is too slow: it is closed and reconnects. */
const MAX_CLIENT_BUFFERED_BYTES = 32 * 1024 * 1024
/** Largest static file served (the built renderer is a few hundred KB). */
const MAX_STATIC_BYTES = 16 * 1024 * 1024

export class DashboardConfigError extends Error {
  override name = 'DashboardConfigError'
}

export interface DashboardOptions {
  /** "127.0.0.1:8080", "[::1]:8080", "localhost:0" (0 = any free port). */
  listen: string
  host: ApiHost
  /** Bind to a non-loopback address (anyone on the network who has the token can use it). */
  allowRemote?: boolean
  /** The built renderer; default: renderer/dist of this checkout. */
  staticDir?: string
  /** Fixed token (tests); default: 32 random bytes. */
  token?: string
  log?: (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void
}

export interface Dashboard {
  /** The URL to open, token included. */
  url: string
  port: number
  token: string
  clients(): number
  close(): Promise<void>
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text)
  if (!m) throw new DashboardConfigError(`--dashboard must be HOST:PORT such as 127.0.0.1:8080, got ${JSON.stringify(text)}`)
  const host = m[1] ?? m[2]
  const port = Number(m[3])
  if (port > 65535) throw new DashboardConfigError(`--dashboard port must be 0..65535, got ${port}`)
  return { host, port }
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

function defaultStaticDir(): string {
  // From core/dashboard (tsx) or dist/core/dashboard (compiled).
  const candidates = [path.resolve(import.meta.dirname, '../../renderer/dist'), path.resolve(import.meta.dirname, '../../../renderer/dist')]
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0]
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2',
  '.map': 'application/json',
}

function sameToken(given: string | undefined, token: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { host: bindHost, port: wantPort } = parseListen(opts.listen)
  if (!isLoopbackHost(bindHost) && !opts.allowRemote) {
    throw new DashboardConfigError(`--dashboard ${opts.listen}: not a loopback address; the dashboard is localhost-only unless you add --dashboard-allow-remote`)
  }
  const token = opts.token ?? randomBytes(32).toString('base64url')
  const staticDir = path.resolve(opts.staticDir ?? defaultStaticDir())
  const log = opts.log ?? (() => {})
  let port = wantPort
  let cookieName = ''
  const hostNames = () => new Set([`${bindHost}:${port}`, `[${bindHost}]:${port}`, `localhost:${port}`, `127.0.0.1:${port}`])
  const origins = () => new Set([...hostNames()].map((h) => `http://${h}`))

  const authorized = (req: http.IncomingMessage, url: URL): boolean =>
    sameToken(url.searchParams.get('token') ?? undefined, token) || sameToken(cookieValue(req.headers.cookie, cookieName), token)
  const hostOk = (req: http.IncomingMessage) => opts.allowRemote === true || hostNames().has(String(req.headers.host ?? ''))

  const csp = () => [
    "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:", "font-src 'self'",
    `connect-src 'self' ws://${bindHost.includes(':') ? `[${bindHost}]` : bindHost}:${port} ws://127.0.0.1:${port} ws://localhost:${port}`,
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join('; ')

  const server = http.createServer((req, res) => {
    const deny = (code: number, text: string) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end(text + '\n')
    }
    // Anything a client sends may be malformed (a bad %-escape throws): never let it reach the agent.
    let url: URL
    let rel: string
    try {
      url = new URL(req.url ?? '/', 'http://x')
      rel = decodeURIComponent(url.pathname)
    } catch {
      return deny(400, 'bad request')
    }
    if (!hostOk(req)) return deny(421, 'wrong Host header')
    if (!authorized(req, url)) return deny(401, 'unauthorized: open the URL with ?token=… printed in the agent log')
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(405, 'method not allowed')
    if (rel === '/' || rel === '') rel = '/index.html'
    const file = path.resolve(staticDir, '.' + rel)
    if (!file.startsWith(staticDir + path.sep) || rel.includes('\0')) return deny(404, 'not found')
    let st: fs.Stats
    try {
      st = fs.statSync(file)
    } catch {
      if (rel === '/index.html') return deny(503, `the renderer is not built (${staticDir}): run npm run build:renderer`)
      return deny(404, 'not found')
    }
    if (!st.isFile() || st.size > MAX_STATIC_BYTES) return deny(404, 'not found')
    const headers: Record<string, string> = {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-length': String(st.size),
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': rel === '/index.html' ? 'no-store' : 'private, max-age=3600',
    }
    if (rel === '/index.html') {
      headers['content-security-policy'] = csp()
      headers['x-frame-options'] = 'DENY'
      // The page's own assets carry no token in their URLs: the cookie authorizes them.
      headers['set-cookie'] = `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`
    }
    res.writeHead(200, headers)
    if (req.method === 'HEAD') return res.end()
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res)
  })
  server.on('clientError', (_err, socket) => socket.destroy())
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INBOUND_MESSAGE_BYTES, perMessageDeflate: false })
  const clients = new Set<WebSocket>()

  server.on('upgrade', (req, socket, head) => {
    const refuse = (code: number, text: string) => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    socket.on('error', () => socket.destroy())
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://x')
    } catch {
      return refuse(400, 'Bad Request')
    }
    if (url.pathname !== '/ws') return refuse(404, 'Not Found')
    if (!hostOk(req)) return refuse(421, 'Misdirected Request')
    if (!sameToken(url.searchParams.get('token') ?? undefined, token)) return refuse(401, 'Unauthorized')
    const origin = req.headers.origin
    if (origin !== undefined && !opts.allowRemote && !origins().has(origin)) return refuse(403, 'Forbidden')
    if (clients.size >= MAX_DASHBOARD_CLIENTS) return refuse(503, 'Service Unavailable')
    wss.handleUpgrade(req, socket, head, (ws) => onClient(ws))
  })

  function send(ws: WebSocket, msg: WireResponse | WirePush): void {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > MAX_CLIENT_BUFFERED_BYTES) {
      ws.close(1013, 'too slow; reconnect')
      return
    }
    ws.send(JSON.stringify(msg))
  }

  function onClient(ws: WebSocket): void {
    clients.add(ws)
    const unsubscribe = opts.host.subscribe((push) => send(ws, { push }))
    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.close(1003, 'text messages only')
      let req
      try {
        req = parseWireRequest(data.toString())
      } catch (err) {
        return ws.close(1008, (err as Error).message.slice(0, 100))
      }
      if (!sameToken(req.token, token)) return ws.close(4401, 'unauthorized')
      const id = req.id
      opts.host.call(req.cmd, req.arg).then(
        (result) => send(ws, { id, ok: true, result }),
        (err: Error) => send(ws, { id, ok: false, error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) } }),
      )
    })
    ws.on('close', () => {
      clients.delete(ws)
      unsubscribe()
    })
    ws.on('error', () => ws.terminate())
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(wantPort, bindHost, () => {
      server.off('error', reject)
      resolve()
    })
  })
  port = (server.address() as AddressInfo).port
  cookieName = `rollcall_token_${port}`
  const shownHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost
  const pageUrl = `http://${shownHost}:${port}/?token=${token}`
  if (!fs.existsSync(path.join(staticDir, 'index.html'))) {
    log('warn', 'dashboard: the renderer is not built; run npm run build:renderer', { dir: staticDir })
  }

  return {
    url: pageUrl,
    port,
    token,
    clients: () => clients.size,
    async close() {
      for (const ws of clients) ws.close(1001, 'agent stopping')
      for (const ws of clients) ws.terminate()
      wss.close()
      server.closeAllConnections?.()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
