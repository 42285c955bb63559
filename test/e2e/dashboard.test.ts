// End to end in real Chromium against the dashboards of a real group of 3 agent processes on
// loopback (no mDNS; bootstrap addresses): Join and Leave from the UI, a kill -9 turning the
// victim failed on the graph and in the timeline with its evidence, export, the token.
// Screenshots go to test-artifacts/.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnAgent, tmpRoot, waitFor, type AgentProcess } from '../integration/cluster.js'
import { ARTIFACTS, buildRenderer, chromiumMissing, launchChromium } from './browser.js'

const missing = chromiumMissing()
if (missing) console.warn(missing)

const root = tmpRoot()
const agents: AgentProcess[] = []
const urls: string[] = []
let browser: Browser
let page: Page
/** Script errors and console errors (a CSP violation is one): there must be none. */
const pageErrors: string[] = []

const dashboardUrl = (a: AgentProcess) => /dashboard ready url=(\S+)/.exec(a.output())?.[1]
const statusAt = async (a: AgentProcess, name: string) => (await a.members()).find((m) => m.name === name)?.status
const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) })

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => http.get(url, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject))
}

describe.skipIf(missing !== undefined)('dashboard in Chromium, 3 agents on loopback', () => {
  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    await buildRenderer()
    const dash = ['--dashboard', '127.0.0.1:0']
    const first = await spawnAgent(path.join(root, 'lab-01'), 'lab-01', [], dash)
    agents.push(first)
    const seed = (await first.members()).find((m) => m.isSelf)!.addrs
    agents.push(...(await Promise.all(['lab-02', 'lab-03'].map((n) => spawnAgent(path.join(root, n), n, seed, dash)))))
    await waitFor('3 agents see each other alive', async () => (await Promise.all(agents.map((a) => a.members()))).every((ms) => ms.filter((m) => m.status === 'alive').length === 3), 30_000, 200)
    for (const a of agents) urls.push(await waitFor('dashboard url', () => dashboardUrl(a) !== undefined).then(() => dashboardUrl(a)!))
    browser = await launchChromium()
    page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true })
    page.on('pageerror', (e) => pageErrors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text())
    })
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    for (const a of agents) {
      if (a.child.exitCode === null && a.child.signalCode === null) {
        try {
          a.child.kill('SIGKILL')
        } catch { /* gone */ }
      }
    }
    fs.rmSync(root, { recursive: true, force: true })
  })

  it('shows the live group: 3 alive members on the graph and in the list', async () => {
    await page.goto(urls[0])
    await expect.poll(() => page.getByTestId('self-name').textContent(), { timeout: 10_000 }).toBe('lab-01')
    await expect.poll(() => page.getByTestId('agreement').textContent(), { timeout: 20_000 }).toContain('views agree: 3 of 3')
    for (const n of ['lab-01', 'lab-02', 'lab-03']) {
      expect(await page.getByTestId(`member-${n}`).getByTestId('member-status').textContent()).toBe('alive')
    }
    expect(await page.getByTestId('self-state').textContent()).toBe('joined')
    await page.waitForTimeout(300)
    await shot('live-group')
  })

  it('Leave and Join from the UI', async () => {
    const button = page.getByTestId('join-leave')
    expect(await button.textContent()).toBe('Leave')
    await button.click()
    await expect.poll(() => page.getByTestId('self-state').textContent(), { timeout: 10_000 }).toBe('left')
    expect(await button.textContent()).toBe('Join')
    await waitFor('the others record lab-01 as left', async () => (await statusAt(agents[1], 'lab-01')) === 'left', 10_000, 100)
    await shot('after-leave')
    await button.click()
    await expect.poll(() => page.getByTestId('self-state').textContent(), { timeout: 15_000 }).toBe('joined')
    await waitFor('the others see lab-01 alive again', async () => (await statusAt(agents[1], 'lab-01')) === 'alive' && (await statusAt(agents[2], 'lab-01')) === 'alive', 15_000, 100)
    await expect.poll(() => page.getByTestId('agreement').textContent(), { timeout: 20_000 }).toContain('views agree: 3 of 3')
    // Both transitions are in the timeline.
    await page.getByTestId('filter-type').selectOption('self:state')
    const rows = await page.getByTestId('event-row').allTextContents()
    expect(rows.some((r) => r.includes('leaving → left'))).toBe(true)
    expect(rows.some((r) => r.includes('joining → joined'))).toBe(true)
    await page.getByTestId('filter-type').selectOption('')
  })

  it('kill -9: the victim turns failed on the graph and in the timeline, with its evidence', async () => {
    const victim = agents[2]
    victim.child.kill('SIGKILL')
    const status = page.getByTestId('member-lab-03').getByTestId('member-status')
    await expect.poll(() => status.textContent(), { timeout: 20_000, interval: 100 }).toBe('failed')
    // The timeline row for the verdict carries the evidence in words.
    await page.getByTestId('filter-type').selectOption('member:failed')
    const row = page.getByTestId('event-row').filter({ hasText: 'lab-03' }).first()
    await expect.poll(() => row.textContent(), { timeout: 5_000 }).toMatch(/failed.*lab-03.*→ failed.*declared failed by lab-01/)
    await shot('failed-timeline')
    await page.getByTestId('filter-type').selectOption('')
    // Details: the evidence in plain words.
    await page.getByTestId('member-lab-03').click()
    const why = await page.getByTestId('evidence').textContent()
    expect(why).toMatch(/^Why: failed: declared failed by lab-01/)
    expect(why).toMatch(/refused|timed out|could not connect/)
    expect(await page.getByTestId('details-status').textContent()).toContain('failed')
    await expect.poll(() => page.getByTestId('agreement').textContent()).toContain('views agree: 2 of 2')
    await shot('failed-evidence')
  })

  it('exports the log as a download that parses (JSONL and CSV), and replays it', async () => {
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-jsonl').click()])
    expect(jsonl.suggestedFilename()).toMatch(/^rollcall-lab-01-\d{8}-\d{6}\.jsonl$/)
    const file = path.join(ARTIFACTS, 'export.jsonl')
    await jsonl.saveAs(file)
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.length).toBeGreaterThan(5)
    expect(lines.some((e) => e.type === 'member:failed' && e.name === 'lab-03' && e.evidence)).toBe(true)
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()])
    const csvFile = path.join(ARTIFACTS, 'export.csv')
    await csv.saveAs(csvFile)
    expect(fs.readFileSync(csvFile, 'utf8').split('\r\n')[0]).toBe('seq,ts,type,id,name,from,to,incarnation,evidence')

    // Open the export to replay it, and scrub back to before the crash.
    await page.getByTestId('open-log-input').setInputFiles(file)
    await expect.poll(() => page.getByTestId('replay-bar').isVisible()).toBe(true)
    const failedAt = lines.findIndex((e) => e.type === 'member:failed' && e.name === 'lab-03')
    await page.getByTestId('scrubber').fill(String(failedAt))
    await expect.poll(() => page.getByTestId('member-lab-03').getByTestId('member-status').textContent()).not.toBe('failed')
    await page.getByTestId('scrubber').fill(String(lines.length))
    await expect.poll(() => page.getByTestId('member-lab-03').getByTestId('member-status').textContent()).toBe('failed')
    await shot('replay')
    await page.getByTestId('replay-close').click()
  })

  it('ran without script errors or Content-Security-Policy violations', () => {
    expect(pageErrors).toEqual([])
  })

  it('refuses requests without the token', async () => {
    const url = new URL(urls[1])
    expect(await httpStatus(`${url.origin}/`)).toBe(401)
    const fresh = await browser.newPage()
    const res = await fresh.goto(`${url.origin}/`)
    expect(res?.status()).toBe(401)
    // With the token the same page works in a fresh context.
    const ok = await fresh.goto(urls[1])
    expect(ok?.status()).toBe(200)
    await fresh.close()
  })
})
