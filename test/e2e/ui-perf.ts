// UI performance bench (not a test): the built renderer in real Chromium with the fake host
// feeding 200 members and 10,000 timeline events (plus a live event every 500 ms), measuring
// idle frame times, long tasks, and click-to-next-paint latency. Prints a table and writes
// test-artifacts/ui-perf.json.   Run: npm run bench:ui [-- --members 200 --events 10000]
import fs from 'node:fs'
import path from 'node:path'
import { ARTIFACTS, buildRenderer, chromiumMissing, launchChromium, RENDERER_DIST, serveStatic } from './browser.js'

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const MEMBERS = arg('members', 200)
const EVENTS = arg('events', 10_000)
const IDLE_MS = arg('idle-ms', 5000)
const CLICKS = arg('clicks', 20)

const missing = chromiumMissing()
if (missing) {
  console.error(missing)
  process.exit(0)
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const r1 = (x: number) => Math.round(x * 10) / 10

await buildRenderer()
fs.mkdirSync(ARTIFACTS, { recursive: true })
const server = await serveStatic(RENDERER_DIST)
const browser = await launchChromium()
const results: Record<string, unknown> = { members: MEMBERS, events: EVENTS, chromium: browser.version(), date: new Date().toISOString() }
try {
  for (const scheme of ['light', 'dark'] as const) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, colorScheme: scheme })
    page.on('pageerror', (e) => console.error('page error:', e.message))
    // tsx (esbuild keepNames) wraps named functions in __name(): give the page a no-op one.
    await page.addInitScript('globalThis.__name = (f) => f')
    await page.addInitScript(() => {
      const w = window as unknown as { __perf: { longtasks: number[]; events: { name: string; duration: number }[] } }
      w.__perf = { longtasks: [], events: [] }
      new PerformanceObserver((l) => { for (const e of l.getEntries()) w.__perf.longtasks.push(e.duration) }).observe({ type: 'longtask', buffered: true })
      new PerformanceObserver((l) => { for (const e of l.getEntries()) w.__perf.events.push({ name: e.name, duration: e.duration }) }).observe({ type: 'event', buffered: true, durationThreshold: 16 } as PerformanceObserverInit)
    })
    const t0 = Date.now()
    await page.goto(`${server.url}?fake&members=${MEMBERS}&events=${EVENTS}`)
    await page.getByTestId('timeline-count').filter({ hasText: `of ${EVENTS}` }).waitFor({ timeout: 30_000 })
    const loadMs = Date.now() - t0
    await page.waitForTimeout(2000)
    if (scheme === 'dark') {
      await page.getByTestId('member-lab-007').click()
      await page.waitForTimeout(300)
      await page.screenshot({ path: path.join(ARTIFACTS, `perf-${MEMBERS}-dark.png`) })
      await page.close()
      continue
    }

    // Idle: frame-to-frame times while live pushes keep arriving, nobody touching anything.
    const idle = await page.evaluate(async (ms) => {
      const w = window as unknown as { __perf: { longtasks: number[] } }
      w.__perf.longtasks.length = 0
      const deltas: number[] = []
      let last = performance.now()
      const end = last + ms
      await new Promise<void>((resolve) => {
        const step = (t: number) => {
          deltas.push(t - last)
          last = t
          if (t < end) requestAnimationFrame(step)
          else resolve()
        }
        requestAnimationFrame(step)
      })
      return { deltas, longtasks: [...w.__perf.longtasks] }
    }, IDLE_MS)

    await page.getByTestId('member-lab-007').click()
    await page.waitForTimeout(300)
    await page.screenshot({ path: path.join(ARTIFACTS, `perf-${MEMBERS}.png`) })

    // Clicks: real mouse clicks on members in the list, measured to the next frame inside the page
    // (click handler start → after the next requestAnimationFrame), plus the Event Timing entries.
    await page.evaluate(() => {
      const w = window as unknown as { __clicks: number[] }
      w.__clicks = []
      document.addEventListener('click', () => {
        const t = performance.now()
        requestAnimationFrame(() => setTimeout(() => w.__clicks.push(performance.now() - t), 0))
      }, { capture: true })
      ;(window as unknown as { __perf: { events: unknown[] } }).__perf.events.length = 0
    })
    const names = Array.from({ length: CLICKS }, (_, k) => `lab-${String(1 + ((k * 37) % (MEMBERS - 1))).padStart(3, '0')}`)
    const wall: number[] = []
    for (const n of names) {
      const el = page.getByTestId(`member-${n}`)
      await el.scrollIntoViewIfNeeded()
      const s = Date.now()
      await el.click()
      await page.getByTestId('details').filter({ hasText: n }).waitFor()
      wall.push(Date.now() - s)
    }
    // Clicks on the graph canvas (the local node at the centre) and on timeline rows.
    const box = (await page.getByTestId('graph').boundingBox())!
    for (let k = 0; k < 5; k++) {
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
      await page.waitForTimeout(50)
    }
    for (let k = 0; k < 5; k++) {
      await page.getByTestId('event-row').nth(k * 3).click()
      await page.waitForTimeout(50)
    }
    // Filter the 10,000 events by type, and scroll the timeline.
    const f0 = Date.now()
    await page.getByTestId('filter-type').selectOption('member:failed')
    await page.getByTestId('timeline-count').filter({ hasNotText: `${EVENTS} of` }).waitFor()
    const filterMs = Date.now() - f0
    await page.getByTestId('filter-type').selectOption('')
    const scroll = await page.evaluate(async () => {
      const el = document.querySelector('[role=log]') as HTMLElement
      const deltas: number[] = []
      let last = performance.now()
      for (let k = 0; k < 120; k++) {
        el.scrollTop = Math.max(0, el.scrollTop - 400)
        await new Promise((r) => requestAnimationFrame(r))
        const t = performance.now()
        deltas.push(t - last)
        last = t
      }
      return deltas
    })
    await page.waitForTimeout(300)
    const inPage = await page.evaluate(() => ({
      clicks: (window as unknown as { __clicks: number[] }).__clicks,
      events: (window as unknown as { __perf: { events: { name: string; duration: number }[] } }).__perf.events,
    }))
    const clickEvents = inPage.events.filter((e) => e.name === 'click' || e.name === 'pointerup' || e.name === 'pointerdown')
    results.loadMs = loadMs
    results.idle = {
      frames: idle.deltas.length, maxFrameMs: r1(Math.max(...idle.deltas)), p95FrameMs: r1(pct(idle.deltas, 95)), p50FrameMs: r1(pct(idle.deltas, 50)),
      framesOver50ms: idle.deltas.filter((d) => d > 50).length, longTasks: idle.longtasks.length, maxLongTaskMs: r1(Math.max(0, ...idle.longtasks)),
    }
    results.click = {
      clicks: inPage.clicks.length, maxToNextFrameMs: r1(Math.max(...inPage.clicks)), p95ToNextFrameMs: r1(pct(inPage.clicks, 95)), p50ToNextFrameMs: r1(pct(inPage.clicks, 50)),
      sequenceMs: inPage.clicks.map(Math.round), eventTimingOver16ms: clickEvents.length, eventTimingMaxMs: r1(Math.max(0, ...clickEvents.map((e) => e.duration))),
      listClickToDetailsWallMsP50: pct(wall, 50), listClickToDetailsWallMsMax: Math.max(...wall),
    }
    results.filter10kMs = filterMs
    results.scroll = { frames: scroll.length, maxFrameMs: r1(Math.max(...scroll)), p95FrameMs: r1(pct(scroll, 95)) }
    await page.close()
  }
} finally {
  await browser.close()
  await server.close()
}

const idle = results.idle as Record<string, number>
const click = results.click as Record<string, number>
const scroll = results.scroll as Record<string, number>
const rows: [string, string, string][] = [
  ['initial load to 10k-event timeline', `${results.loadMs} ms`, ''],
  [`idle frames (${IDLE_MS / 1000} s, live pushes)`, `max ${idle.maxFrameMs} ms · p95 ${idle.p95FrameMs} · p50 ${idle.p50FrameMs}`, idle.maxFrameMs < 50 ? 'ok (< 50 ms)' : 'OVER 50 ms'],
  ['idle frames over 50 ms / long tasks', `${idle.framesOver50ms} / ${idle.longTasks} (max ${idle.maxLongTaskMs} ms)`, ''],
  [`click → next frame (${click.clicks} clicks)`, `max ${click.maxToNextFrameMs} ms · p95 ${click.p95ToNextFrameMs} · p50 ${click.p50ToNextFrameMs}`, click.maxToNextFrameMs < 100 ? 'ok (< 100 ms)' : 'OVER 100 ms'],
  ['Event Timing: click/pointer events > 16 ms', `${click.eventTimingOver16ms} (max ${click.eventTimingMaxMs} ms)`, click.eventTimingMaxMs < 100 ? 'ok (< 100 ms)' : 'OVER 100 ms'],
  ['list click → details shown (wall, via CDP)', `p50 ${click.listClickToDetailsWallMsP50} ms · max ${click.listClickToDetailsWallMsMax} ms`, ''],
  ['filter 10k events by type (wall, via CDP)', `${results.filter10kMs} ms`, ''],
  ['timeline scroll frames (120 steps)', `max ${scroll.maxFrameMs} ms · p95 ${scroll.p95FrameMs}`, scroll.maxFrameMs < 50 ? 'ok (< 50 ms)' : 'OVER 50 ms'],
]
console.log(`\nRollcall UI bench: ${MEMBERS} members, ${EVENTS} events, ${results.chromium}`)
const w0 = Math.max(...rows.map((r) => r[0].length))
const w1 = Math.max(...rows.map((r) => r[1].length))
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`)
const out = path.join(ARTIFACTS, 'ui-perf.json')
fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
console.log(`\nwrote ${out}`)
