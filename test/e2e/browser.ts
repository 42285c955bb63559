// Helpers for tests and the bench that drive the renderer in real Chromium (Debian's package,
// driven by playwright-core): find the browser, build the renderer, serve a directory on 127.0.0.1.
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

export const CHROMIUM = process.env.ROLLCALL_CHROMIUM ?? '/usr/bin/chromium'
export const chromiumMissing = (): string | undefined =>
  fs.existsSync(CHROMIUM) ? undefined : `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set ROLLCALL_CHROMIUM; skipping the browser tests`

export const ROOT = path.resolve(import.meta.dirname, '../..')
export const RENDERER_DIST = path.join(ROOT, 'renderer/dist')
export const ARTIFACTS = path.join(ROOT, 'test-artifacts')

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
]

export async function launchChromium() {
  const { chromium } = await import('playwright-core')
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
}

/** Builds renderer/dist with vite's API (about a second), so the tests work from a clean clone. */
export async function buildRenderer(): Promise<void> {
  const { build } = await import('vite')
  await build({ configFile: path.join(ROOT, 'renderer/vite.config.ts'), logLevel: 'error' })
}

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' }

/** A static file server on 127.0.0.1 (file:// would block module scripts). */
export async function serveStatic(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    const file = path.resolve(dir, '.' + (rel === '/' ? '/index.html' : rel))
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' })
    fs.createReadStream(file).pipe(res)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}
