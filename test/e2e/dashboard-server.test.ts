// The dashboard server over real HTTP and WebSocket on 127.0.0.1 (no browser): the token on every
// request, upgrade and message; loopback-only binding; Host and Origin checks; bounded messages.
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { MAX_DASHBOARD_CLIENTS, MAX_INBOUND_MESSAGE_BYTES } from '../../core/contract.js'
import { createApiHost } from '../../core/dashboard/host.js'
import { isLoopbackHost, parseListen, startDashboard, type Dashboard } from '../../core/dashboard/server.js'
import { FakeNode } from '../electron/fakes.js'

const staticDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-dash-'))
fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>')
fs.mkdirSync(path.join(staticDir, 'assets'))
fs.writeFileSync(path.join(staticDir, 'assets', 'app.js'), 'console.log(1)')
fs.writeFileSync(path.join(os.tmpdir(), 'rollcall-secret.txt'), 'secret')

const node = new FakeNode()
const host = createApiHost(node, {
  info: { kind: 'dashboard', version: 't', settingsEditable: false, hostOpensLogs: false },
  getSettings: () => ({ name: 'lab-0', group: 'it', groupKeyFile: '', bootstrap: [], mdnsInterface: '', autoJoin: true }),
})
let dash: Dashboard
let base: string

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    }).on('error', reject)
  })
}

function connect(query: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${dash.port}/ws${query}`, { headers: { origin: base, ...headers } })
    ws.on('open', () => resolve({ ws }))
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }))
    ws.on('error', () => resolve({}))
  })
}

function request(ws: WebSocket, msg: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    const onMsg = (data: WebSocket.RawData) => {
      const m = JSON.parse(data.toString())
      if ('push' in m) return
      ws.off('message', onMsg)
      resolve(m)
    }
    ws.on('message', onMsg)
    ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg))
  })
}

const closed = (ws: WebSocket) => new Promise<number>((r) => ws.on('close', (code) => r(code)))

beforeAll(async () => {
  dash = await startDashboard({ listen: '127.0.0.1:0', host, staticDir })
  base = `http://127.0.0.1:${dash.port}`
})
afterAll(async () => {
  await dash.close()
  host.close()
  fs.rmSync(staticDir, { recursive: true, force: true })
  fs.rmSync(path.join(os.tmpdir(), 'rollcall-secret.txt'), { force: true })
})

describe('startDashboard', () => {
  it('refuses a non-loopback bind unless allowed', async () => {
    await expect(startDashboard({ listen: '0.0.0.0:0', host, staticDir })).rejects.toThrow(/localhost-only/)
    await expect(startDashboard({ listen: '192.168.1.5:0', host, staticDir })).rejects.toThrow(/--dashboard-allow-remote/)
    expect(() => parseListen('8080')).toThrow(/HOST:PORT/)
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 })
    expect(isLoopbackHost('127.0.0.1') && isLoopbackHost('localhost') && !isLoopbackHost('10.0.0.1')).toBe(true)
  })

  it('prints a URL with a long random token', () => {
    expect(dash.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${dash.port}/\\?token=[A-Za-z0-9_-]{40,}$`))
  })

  it('refuses every HTTP request without the token', async () => {
    expect((await get(`${base}/`)).status).toBe(401)
    expect((await get(`${base}/assets/app.js`)).status).toBe(401)
    expect((await get(`${base}/?token=wrong`)).status).toBe(401)
    expect((await get(`${base}/`, { cookie: `rollcall_token_${dash.port}=wrong` })).status).toBe(401)
  })

  it('serves the page with the token, with a CSP, and its assets by cookie', async () => {
    const page = await get(dash.url)
    expect(page.status).toBe(200)
    expect(page.headers['content-security-policy']).toContain("script-src 'self'")
    const cookie = String(page.headers['set-cookie']).split(';')[0]
    expect(cookie).toBe(`rollcall_token_${dash.port}=${dash.token}`)
    expect(String(page.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/)
    const asset = await get(`${base}/assets/app.js`, { cookie })
    expect(asset.status).toBe(200)
    expect(asset.body).toBe('console.log(1)')
    expect((await get(`${base}/..%2f..%2frollcall-secret.txt?token=${dash.token}`)).status).toBe(404)
    expect((await get(`${base}/%E0%A4%A?token=${dash.token}`)).status).toBe(400) // a bad %-escape must not crash the agent
    expect((await get(dash.url)).status).toBe(200)
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect((await get(dash.url, { host: 'evil.example:80' })).status).toBe(421)
  })

  it('refuses a WebSocket without the token, from another origin, or at another path', async () => {
    expect((await connect('')).status).toBe(401)
    expect((await connect('?token=nope')).status).toBe(401)
    expect((await connect(`?token=${dash.token}`, { origin: 'https://evil.example' })).status).toBe(403)
  })

  it('answers commands over the WebSocket and pushes batched updates', async () => {
    const { ws } = await connect(`?token=${dash.token}`)
    const pushed = new Promise<{ push: { type: string } }>((r) => ws!.on('message', (d) => {
      const m = JSON.parse(d.toString())
      if ('push' in m) r(m)
    }))
    const res = (await request(ws!, { id: 1, cmd: 'getSnapshot', token: dash.token })) as { id: number; ok: boolean; result: { group: string } }
    expect(res).toMatchObject({ id: 1, ok: true, result: { group: 'it' } })
    expect((await pushed).push.type).toBe('update')
    const bad = (await request(ws!, { id: 2, cmd: 'exportLog', arg: { format: 'exe' }, token: dash.token })) as { ok: boolean; error: { name: string } }
    expect(bad).toMatchObject({ id: 2, ok: false, error: { name: 'ContractError' } })
    const unknown = (await request(ws!, { id: 3, cmd: 'shutdown', token: dash.token })) as { ok: boolean; error: { message: string } }
    expect(unknown.error.message).toMatch(/unknown command/)
    ws!.close()
  })

  it('closes a socket whose message lacks the right token, or is malformed or too large', async () => {
    for (const [msg, code] of [
      [JSON.stringify({ id: 1, cmd: 'join', token: 'wrong' }), 4401],
      ['{not json', 1008],
      ['x'.repeat(MAX_INBOUND_MESSAGE_BYTES + 10), 1009],
    ] as const) {
      const { ws } = await connect(`?token=${dash.token}`)
      const c = closed(ws!)
      ws!.send(msg)
      expect(await c).toBe(code)
    }
    expect(node.joins).toBe(0)
  })

  it('bounds the number of clients', async () => {
    const open: WebSocket[] = []
    for (let i = 0; i < MAX_DASHBOARD_CLIENTS; i++) {
      const { ws } = await connect(`?token=${dash.token}`)
      if (ws) open.push(ws)
    }
    await new Promise((r) => setTimeout(r, 50))
    expect((await connect(`?token=${dash.token}`)).status).toBe(503)
    for (const ws of open) ws.close()
  })
})
