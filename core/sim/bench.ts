// Simulator benchmark (not a test): prints a table and, with --out FILE, writes the rows as JSON.
//   npx tsx core/sim/bench.ts                  scaling (N = 10, 100, 1000) and detection at N = 100
//   npx tsx core/sim/bench.ts --big            also 1,000 nodes × 600 s and 10,000 nodes × 60 s
//   npx tsx core/sim/bench.ts --only big10k    one group: scaling, detection, big1k, big10k
// Every run is preformed with the lan profile unless said otherwise. Wall-clock and CPU times
// depend on the machine and its load; the CPU time (user + system of this process) is the steadier.

import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
import { heapNeedMB, reexecWithHeap } from './heap.js'
import type { SimOptions } from './options.js'
import { runSimulation } from './sim.js'
import { pct, type Pct, type SimSummary } from './summary.js'

interface Row {
  group: string
  name: string
  nodes: number
  seconds: number
  seeds: number
  wallS: number
  cpuS: number
  setupS: number
  events: number
  heapMB: number
  msgsSentPerNodeSec: number
  msgsRecvPerNodeSec: number
  bytesSentPerNodeSec: number
  detection?: Record<string, { first: Pct | null; all: Pct | null; missingAll: number }>
  violations: number
}

function timed(o: SimOptions): { s: SimSummary; cpuS: number } {
  const c0 = process.cpuUsage()
  const s = runSimulation(o)
  const c = process.cpuUsage(c0)
  return { s, cpuS: (c.user + c.system) / 1e6 }
}

function row(group: string, name: string, o: SimOptions, runs: { s: SimSummary; cpuS: number }[]): Row {
  const sum = (f: (s: SimSummary) => number) => runs.reduce((a, r) => a + f(r.s), 0)
  const avg = (f: (s: SimSummary) => number) => sum(f) / runs.length
  const r: Row = {
    group, name, nodes: o.nodes, seconds: o.seconds, seeds: runs.length,
    wallS: sum((s) => s.run.wallMs) / 1000,
    cpuS: runs.reduce((a, x) => a + x.cpuS, 0),
    setupS: sum((s) => s.run.setupWallMs) / 1000,
    events: sum((s) => s.run.events),
    heapMB: Math.max(...runs.map((x) => x.s.run.heapUsedMB)),
    msgsSentPerNodeSec: avg((s) => s.traffic.msgsSentPerNodeSec),
    msgsRecvPerNodeSec: avg((s) => s.traffic.msgsRecvPerNodeSec),
    bytesSentPerNodeSec: avg((s) => s.traffic.bytesSentPerNodeSec),
    violations: sum((s) => s.violations.length),
  }
  const kinds = new Map<string, { first: number[]; all: number[]; missingAll: number }>()
  for (const { s } of runs) {
    for (const f of s.faults) {
      const k = kinds.get(f.kind) ?? { first: [], all: [], missingAll: 0 }
      kinds.set(f.kind, k)
      if (f.detect.firstMs !== null) k.first.push(f.detect.firstMs)
      if (f.detect.allMs !== null) k.all.push(f.detect.allMs)
      else k.missingAll++
    }
  }
  if (kinds.size) r.detection = Object.fromEntries([...kinds].map(([k, v]) => [k, { first: pct(v.first), all: pct(v.all), missingAll: v.missingAll }]))
  return r
}

const GROUPS: Record<string, (say: (r: Row) => void) => void> = {
  scaling(say) {
    for (const nodes of [10, 100, 1000]) {
      const o: SimOptions = { seed: 1, nodes, seconds: 120, profile: 'lan', preformed: true }
      say(row('scaling', `steady N=${nodes}`, o, [timed(o)]))
    }
    for (const nodes of [10, 100, 1000]) {
      const o: SimOptions = { seed: 1, nodes, seconds: 120, profile: 'lan', preformed: true, loss: 0.05, crash: 1, leave: 1, join: 1 }
      say(row('scaling', `faults+5% loss N=${nodes}`, o, [timed(o)]))
    }
  },
  detection(say) {
    const seeds = 10
    const mk = (seed: number): SimOptions => ({
      seed, nodes: 100, seconds: 240, profile: 'lan', preformed: true, crash: 2, crashSilent: 2, leave: 2, join: 2, restart: 1, faultWindow: [0.1, 0.5],
    })
    const runs = Array.from({ length: seeds }, (_, i) => timed(mk(i + 1)))
    say(row('detection', `N=100 lan, ${seeds} seeds`, mk(1), runs))
  },
  big1k(say) {
    const o: SimOptions = { seed: 1, nodes: 1000, seconds: 600, profile: 'lan', preformed: true }
    say(row('big', '1,000 × 600 s', o, [timed(o)]))
  },
  big10k(say) {
    const o: SimOptions = { seed: 1, nodes: 10_000, seconds: 60, profile: 'lan', preformed: true }
    say(row('big', '10,000 × 60 s', o, [timed(o)]))
  },
}

function printRow(r: Row): void {
  const f = (v: number, d = 2) => v.toFixed(d)
  process.stdout.write(
    `${r.name.padEnd(28)} ${String(r.nodes).padStart(6)} ${String(r.seconds).padStart(5)}s  wall ${f(r.wallS, 1).padStart(6)} s  cpu ${f(r.cpuS, 1).padStart(6)} s  setup ${f(r.setupS, 1).padStart(6)} s  ` +
    `${(r.events / 1e6).toFixed(2).padStart(6)}M events  heap ${String(r.heapMB).padStart(6)} MB  msgs/node/s sent ${f(r.msgsSentPerNodeSec)} recv ${f(r.msgsRecvPerNodeSec)}  B/node/s ${f(r.bytesSentPerNodeSec, 0)}  violations ${r.violations}\n`,
  )
  for (const [k, d] of Object.entries(r.detection ?? {})) {
    const p = (x: Pct | null) => (x ? `p50 ${x.p50.toFixed(0)} p99 ${x.p99.toFixed(0)} max ${x.max.toFixed(0)} (n=${x.n})` : '—')
    process.stdout.write(`    ${k.padEnd(13)} first ${p(d.first)}   all ${p(d.all)}${d.missingAll ? `   never all: ${d.missingAll}` : ''}\n`)
  }
}

function main(argv: string[]): number {
  let out: string | undefined
  let big = false
  let only: string[] | undefined
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i]
    else if (argv[i] === '--big') big = true
    else if (argv[i] === '--only') only = argv[++i]?.split(',')
    else {
      process.stderr.write(`bench: unknown argument "${argv[i]}"\nusage: npx tsx core/sim/bench.ts [--big] [--only ${Object.keys(GROUPS).join(',')}] [--out FILE]\n`)
      return 2
    }
  }
  const groups = only ?? ['scaling', 'detection', ...(big ? ['big1k', 'big10k'] : [])]
  const unknown = groups.filter((g) => !(g in GROUPS))
  if (unknown.length) {
    process.stderr.write(`bench: unknown group ${unknown.join(', ')}\n`)
    return 2
  }
  if (groups.includes('big10k')) {
    const code = reexecWithHeap(heapNeedMB(10_000), argv, (line) => process.stderr.write(`bench: 10,000 nodes ${line}\n`))
    if (code !== undefined) return code
  }
  const rows: Row[] = []
  for (const g of groups) GROUPS[g]((r) => {
    rows.push(r)
    printRow(r)
  })
  if (out) fs.writeFileSync(out, JSON.stringify(rows, null, 2) + '\n')
  return rows.some((r) => r.violations > 0) ? 1 : 0
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2))
