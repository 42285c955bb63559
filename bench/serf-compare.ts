// `npm run bench`: Rollcall (profile lan) and HashiCorp Serf (default LAN profile) side by side, in
// one run, on the same lab (test/lab/lab.ts): real processes, loopback or one network namespace per
// agent on a bridge. Prints a table with both systems and the ratio Rollcall / Serf, writes JSON to
// bench/results/<timestamp>.json. A benchmark, not a test: it reports, it does not assert.
//
//   npm run bench                                   # N = 10, 20, 40; loopback and ns; 3 reps (long)
//   npm run bench -- --n 10 --mode ns --reps 1      # a few minutes
//   npm run bench -- --n 40 --mode ns --scenarios crash,freeze,leave,idle --soak-s 30
//
// Flags: --n 10,20,40  --mode loopback,ns  --reps 3  --scenarios form,idle,crash,rejoin,freeze,
// leave,stall,soak  --systems rollcall,serf  --soak-s 60  --idle-s 30  --stall-s 5
// --settle-s N (wait before the idle window; default N seconds, one probe round at full speed)
// --rollcall-config '{"suspicionMult":3}' (an experiment: protocol overrides via test/lab/agent-main.ts)
// --out bench/results
// --table bench/results/<file>.json   print the table of a saved run (complete or stopped early); runs nothing
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Lab, nsUnavailableReason, serfUnavailableReason, sleep, warmCodeCache, type LabNode, type Mode, type System } from '../test/lab/lab.js'

// ---------------------------------------------------------------------------------------------
// flags

const ALL_SCENARIOS = ['form', 'idle', 'crash', 'rejoin', 'freeze', 'leave', 'stall', 'soak'] as const
type Scenario = (typeof ALL_SCENARIOS)[number]

function parseFlags(argv: string[]) {
  const f = {
    n: [10, 20, 40], modes: ['loopback', 'ns'] as Mode[], reps: 3, scenarios: [...ALL_SCENARIOS] as Scenario[], systems: ['rollcall', 'serf'] as System[],
    soakS: 60, idleS: 30, stallS: 5, settleS: undefined as number | undefined, out: path.resolve(import.meta.dirname, 'results'), rollcallConfig: undefined as Record<string, number> | undefined, keep: false,
    table: undefined as string | undefined,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x === undefined) usage(`${a} needs a value`)
      return x
    }
    const list = () => v().split(',').map((s) => s.trim()).filter(Boolean)
    switch (a) {
      case '--n': f.n = list().map(Number); break
      case '--mode': f.modes = list() as Mode[]; break
      case '--reps': f.reps = Number(v()); break
      case '--scenarios': f.scenarios = list() as Scenario[]; break
      case '--systems': f.systems = list() as System[]; break
      case '--soak-s': f.soakS = Number(v()); break
      case '--idle-s': f.idleS = Number(v()); break
      case '--stall-s': f.stallS = Number(v()); break
      case '--settle-s': f.settleS = Number(v()); break
      case '--out': f.out = path.resolve(v()); break
      case '--rollcall-config': f.rollcallConfig = JSON.parse(v()); break
      case '--keep': f.keep = true; break
      case '--table': f.table = path.resolve(v()); break
      case '-h': case '--help': usage()
      default: usage(`unknown flag ${a}`)
    }
  }
  if (f.n.some((n) => !Number.isInteger(n) || n < 3 || n > 100)) usage('--n: integers in 3..100')
  if (f.modes.some((m) => m !== 'ns' && m !== 'loopback')) usage('--mode: loopback, ns')
  if (f.systems.some((s) => s !== 'rollcall' && s !== 'serf')) usage('--systems: rollcall, serf')
  if (f.scenarios.some((s) => !ALL_SCENARIOS.includes(s))) usage(`--scenarios: ${ALL_SCENARIOS.join(',')}`)
  if (!(f.reps >= 1 && f.reps <= 20)) usage('--reps: 1..20')
  if (f.settleS !== undefined && !(f.settleS >= 0 && f.settleS <= 600)) usage('--settle-s: 0..600')
  if (!(f.soakS >= 5 && f.soakS <= 3600) || !(f.idleS >= 5 && f.idleS <= 600) || !(f.stallS >= 1 && f.stallS <= 60)) usage('--soak-s 5..3600, --idle-s 5..600, --stall-s 1..60')
  return f
}

function usage(msg?: string): never {
  const head = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n')
  console.error(msg ? `bench: ${msg}\n\n${head}` : head)
  process.exit(msg ? 2 : 0)
}

const flags = parseFlags(process.argv.slice(2))
const t0Run = Date.now()
const progress = (msg: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)} +${Math.round((Date.now() - t0Run) / 1000)}s] ${msg}\n`)

// ---------------------------------------------------------------------------------------------
// prerequisites

function ensureSerf(): void {
  if (!flags.systems.includes('serf')) return
  if (!serfUnavailableReason()) return
  const root = process.getuid?.() === 0
  if (!root) {
    console.error('bench: HashiCorp Serf is not installed. Install it with:\n  sudo apt-get install -y serf\nor run with --systems rollcall.')
    process.exit(2)
  }
  progress('serf missing: apt-get install -y serf')
  try {
    execFileSync('apt-get', ['install', '-y', 'serf'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } catch {
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'] })
    execFileSync('apt-get', ['install', '-y', 'serf'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  if (serfUnavailableReason()) {
    console.error('bench: apt-get did not provide `serf`; install it by hand or run with --systems rollcall')
    process.exit(2)
  }
}

function machine() {
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    } catch {
      return undefined
    }
  }
  const osRelease = (() => {
    try {
      return /PRETTY_NAME="([^"]+)"/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1]
    } catch {
      return undefined
    }
  })()
  return {
    cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: osRelease, kernel: os.release(),
    serf: sh('serf', ['version'])?.split('\n')[0], rollcallCommit: sh('git', ['-C', path.resolve(import.meta.dirname, '..'), 'rev-parse', '--short', 'HEAD']),
    // Agents run the sources as they are on disk: say whether core/ differs from that commit.
    coreModified: (sh('git', ['-C', path.resolve(import.meta.dirname, '..'), 'status', '--porcelain', '--', 'core', 'bin']) ?? '') !== '',
  }
}

// ---------------------------------------------------------------------------------------------
// measurements

type Metrics = Record<string, number | null>
interface Result {
  mode: Mode
  n: number
  system: System
  rep: number
  scenario: Scenario
  metrics: Metrics
  note?: string
  /** Load average (1 min) when the scenario ended: the machine is shared, this says how busy it was. */
  load1?: number
  /** Every view change about the victim: observer, ms after the fault, new status, rule. */
  timeline?: Array<[string, number, string, string?]>
}
const results: Result[] = []

const WAIT_FAILED_MS = 120_000
const WAIT_ALIVE_MS = 120_000
/**
 * The fault scenarios start from a quiet group: all agents together using less than this share of
 * the machine's cores over QUIET_WINDOW_MS (idle, 40 agents use ~30–40 % of one core for Rollcall,
 * ~15 % for Serf), or after QUIET_MAX_MS. Same rule for both systems. Rollcall's views are complete
 * (form) while connections are still opening, and a crash in that burst measures the burst (N = 20:
 * failed everywhere after 3.3–3.9 s, with live members suspected and refuting around it, against
 * 1.2–1.4 s in a quiet group).
 */
const QUIET_CPU_PCT_OF_MACHINE = 30
const QUIET_WINDOW_MS = 1_000
const QUIET_MAX_MS = 30_000

/** The CPU the given agents use together over the next windowMs, in % of the machine (all cores = 100). An agent gone by the end adds nothing. */
async function cpuPctOfMachine(lab: Lab, nodes: LabNode[], windowMs: number): Promise<number> {
  const before = nodes.map((x) => lab.procStats(x)?.cpuSec ?? 0)
  const t0 = Date.now()
  await sleep(windowMs)
  const cpuSec = nodes.reduce((sum, x, i) => sum + (lab.procStats(x)?.cpuSec ?? before[i]) - before[i], 0)
  return (100 * cpuSec) / ((Date.now() - t0) / 1000) / os.cpus().length
}

/** Wait until the group is quiet (see QUIET_CPU_PCT_OF_MACHINE); returns how long that took and the agents' last share of the machine. */
async function waitQuiet(lab: Lab): Promise<{ waitedMs: number; cpuPct: number }> {
  const t0 = Date.now()
  let cpuPct = Infinity
  while (Date.now() - t0 < QUIET_MAX_MS) {
    cpuPct = await cpuPctOfMachine(lab, lab.nodes, QUIET_WINDOW_MS)
    if (cpuPct < QUIET_CPU_PCT_OF_MACHINE) break
  }
  return { waitedMs: Date.now() - t0, cpuPct }
}

function span(times: Map<string, number>, t0: number, expected: number) {
  const v = [...times.values()].map((t) => t - t0)
  return { first: v.length ? Math.min(...v) : null, all: v.length === expected ? Math.max(...v) : null }
}

async function settle(lab: Lab, what: string): Promise<void> {
  for (const n of lab.nodes) {
    if (n.stopped) lab.thaw(n)
    if (!n.running) await lab.restart(n)
  }
  await lab.waitUntil(`group whole again (${what})`, () => lab.formed(), WAIT_ALIVE_MS)
  await sleep(2000)
  await waitQuiet(lab)
}

/** Count failed / suspect verdicts about nodes that were never faulty in [t0, now]. */
function falseVerdicts(lab: Lab, t0: number, innocent: (subject: string) => boolean) {
  const ch = lab.changesSince(t0, (c) => innocent(c.subject) && c.observer !== c.subject)
  // Serf logs a suspicion only where it starts (the prober); Rollcall logs it at every observer.
  // Comparable: first-hand suspicions (the observer's own probes failed).
  const firstHand = ch.filter((c) => c.to === 'suspect' && c.firstHand)
  return { failures: ch.filter((c) => c.to === 'failed').length, suspicions: firstHand.length, suspectViews: ch.filter((c) => c.to === 'suspect').length }
}

async function runLab(mode: Mode, n: number, system: System, rep: number): Promise<void> {
  const tag = `${mode} N=${n} rep ${rep + 1}/${flags.reps} ${system}`
  let victim: { name: string; t0: number } | undefined
  const push = (scenario: Scenario, metrics: Metrics, note?: string) => {
    const timeline = victim
      ? lab.changesSince(victim.t0 - 5, (c) => c.subject === victim!.name).map((c): [string, number, string, string?] => [c.observer, c.t - victim!.t0, c.to, c.rule])
      : undefined
    results.push({ mode, n, system, rep, scenario, metrics, note, load1: Math.round(os.loadavg()[0] * 100) / 100, timeline })
    victim = undefined
    progress(`${tag}: ${scenario} ${Object.entries(metrics).map(([k, v]) => `${k}=${v === null ? '—' : Math.round(v * 10) / 10}`).join(' ')}${note ? ` (${note})` : ''}`)
  }
  const want = (s: Scenario) => flags.scenarios.includes(s)
  progress(`${tag}: starting ${n} agents`)
  const lab = await Lab.start({
    system, mode, n, profile: 'lan', noWait: true, keep: flags.keep,
    rollcallConfig: system === 'rollcall' ? flags.rollcallConfig : undefined, log: progress,
  })
  let ok = false
  try {
    // Form: from the first agent's spawn (all are spawned at once) until every agent lists every
    // agent alive; startup: until the last agent is up (Rollcall: control socket ready; Serf: its own
    // member-join); after_ready: the rest, i.e. discovery and joining.
    await lab.waitFormed(60_000 + n * 4_000)
    const formedAt = Date.now()
    const firstSpawn = Math.min(...lab.nodes.map((x) => x.startedAt))
    const lastReady = Math.max(...lab.nodes.map((x) => x.readyAt ?? formedAt))
    if (want('form')) push('form', { all_ms: formedAt - firstSpawn, startup_ms: lastReady - firstSpawn, after_ready_ms: Math.max(0, formedAt - lastReady) })
    await sleep(2000)
    const quiet = await waitQuiet(lab)
    progress(`${tag}: quiet ${Math.round(quiet.waitedMs)} ms after that (agents' CPU ${quiet.cpuPct.toFixed(1)} % of the machine)`)

    // Victims differ per repetition; never n0 (the loopback seed).
    const pick = (k: number) => lab.node(1 + ((rep * 4 + k) % (n - 1)))

    if (want('idle')) {
      // A quiet, settled group: CPU and RSS from /proc, bytes from nftables counters on each eth0.
      // Rollcall opens most connections lazily, as its probes first reach each member (about N
      // probe periods after forming), so wait that long: idle means the steady state. Same wait
      // for both systems. --settle-s sets another wait, e.g. to see the fully settled state.
      await sleep(flags.settleS !== undefined ? flags.settleS * 1000 : Math.max(3000, n * 1000))
      const s0 = lab.nodes.map((x) => lab.procStats(x))
      const tr0 = mode === 'ns' ? await Promise.all(lab.nodes.map((x) => lab.traffic(x))) : undefined
      const t0 = Date.now()
      await sleep(flags.idleS * 1000)
      const dt = (Date.now() - t0) / 1000
      const s1 = lab.nodes.map((x) => lab.procStats(x))
      const tr1 = mode === 'ns' ? await Promise.all(lab.nodes.map((x) => lab.traffic(x))) : undefined
      const cpu = s1.map((s, i) => (s && s0[i] ? (100 * (s.cpuSec - s0[i]!.cpuSec)) / dt : 0))
      const rss = s1.map((s) => (s ? s.rssBytes / 2 ** 20 : 0))
      const m: Metrics = { cpu_pct: mean(cpu), rss_mib: mean(rss), rss_max_mib: Math.max(...rss) }
      if (tr0 && tr1) {
        const per = (k: 'txBytes' | 'rxBytes' | 'txMdnsBytes' | 'rxMdnsBytes') => mean(tr1.map((t, i) => (t[k] - tr0[i][k]) / dt))
        m.tx_Bps = per('txBytes')
        m.rx_Bps = per('rxBytes')
        m.tx_no_mdns_Bps = per('txBytes') - per('txMdnsBytes')
        m.rx_mdns_Bps = per('rxMdnsBytes')
      }
      push('idle', m, mode === 'loopback' ? 'traffic only in ns mode' : undefined)
    }

    if (want('crash') || want('rejoin')) {
      const v = pick(0)
      const obs = lab.observers([v])
      const t0 = await lab.kill(v)
      victim = { name: v.name, t0 }
      await lab.waitUntil(`${v.name} failed everywhere`, () => lab.allSee(v, ['failed'], obs), WAIT_FAILED_MS)
      const s = span(lab.firstTimes(v, ['failed'], t0, obs), t0, obs.length)
      if (want('crash')) push('crash', { first_ms: s.first, all_ms: s.all })
      // The survivors' CPU in the second before the restart: a restart that lands in the work a
      // crash sets off starts slowly, and this says whether it did.
      const survivorsCpuPct = await cpuPctOfMachine(lab, obs, 1000)
      const t1 = await lab.restart(v)
      await lab.waitUntil(`${v.name} alive again everywhere`, () => lab.allSee(v, ['alive'], obs), WAIT_ALIVE_MS)
      victim = { name: v.name, t0: t1 }
      const r = span(lab.firstTimes(v, ['alive'], t1, obs), t1, obs.length)
      if (want('rejoin')) push('rejoin', { all_ms: r.all, first_ms: r.first, startup_ms: v.readyAt ? v.readyAt - t1 : null, survivors_cpu_pct: survivorsCpuPct })
      await settle(lab, 'after rejoin')
    }

    if (want('freeze')) {
      const v = pick(1)
      const obs = lab.observers([v])
      const t0 = lab.freeze(v)
      victim = { name: v.name, t0 }
      await lab.waitUntil(`${v.name} failed everywhere`, () => lab.allSee(v, ['failed'], obs), WAIT_FAILED_MS)
      const s = span(lab.firstTimes(v, ['failed'], t0, obs), t0, obs.length)
      const sus = span(lab.firstTimes(v, ['suspect', 'failed'], t0, obs), t0, obs.length)
      const t1 = lab.thaw(v)
      await lab.waitUntil(`${v.name} alive again everywhere after SIGCONT`, () => lab.allSee(v, ['alive'], obs), WAIT_ALIVE_MS)
      const r = span(lab.firstTimes(v, ['alive'], t1, obs), t1, obs.length)
      push('freeze', { first_suspect_ms: sus.first, first_ms: s.first, all_ms: s.all, recover_all_ms: r.all })
      await settle(lab, 'after freeze')
    }

    if (want('leave')) {
      const v = pick(2)
      const obs = lab.observers([v])
      const t0 = await lab.leave(v)
      victim = { name: v.name, t0 }
      // Wait for a verdict everywhere (left, or wrongly failed); all_ms only counts if all saw left.
      await lab.waitUntil(`${v.name} left everywhere`, () => lab.allSee(v, ['left', 'failed'], obs), WAIT_FAILED_MS)
      const s = span(lab.firstTimes(v, ['left'], t0, obs), t0, obs.length)
      await sleep(2000)
      const wrong = lab.changesSince(t0, (c) => c.subject === v.name && c.to === 'failed').length
      push('leave', { first_ms: s.first, all_ms: s.all, failed_verdicts: wrong }, wrong ? `${wrong} observer(s) saw failed instead of left` : undefined)
      await settle(lab, 'after leave')
    }

    if (want('stall')) {
      // One node stalled for stallS seconds (SIGSTOP/SIGCONT): it must not be declared failed.
      const v = pick(3)
      const t0 = lab.freeze(v)
      victim = { name: v.name, t0 }
      await sleep(flags.stallS * 1000)
      lab.thaw(v)
      await sleep(15_000)
      const mine = falseVerdicts(lab, t0, (s) => s === v.name)
      const others = falseVerdicts(lab, t0, (s) => s !== v.name)
      push('stall', { failed_verdicts: mine.failures, first_hand_suspicions: mine.suspicions, suspect_views: mine.suspectViews, others_failed: others.failures })
      await settle(lab, 'after stall')
    }

    if (want('soak')) {
      if (mode !== 'ns') push('soak', {}, 'needs ns mode (nftables loss)')
      else {
        await lab.setLoss(10)
        const t0 = Date.now()
        await sleep(flags.soakS * 1000)
        const v = falseVerdicts(lab, t0, () => true)
        await lab.setLoss(0)
        push('soak', { false_failures: v.failures, false_suspicions: v.suspicions, suspect_views: v.suspectViews }, `${flags.soakS} s at 10 % loss`)
        await settle(lab, 'after soak')
      }
    }
    ok = true
  } catch (err) {
    progress(`${tag}: FAILED: ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`)
    results.push({ mode, n, system, rep, scenario: 'form', metrics: {}, note: `error: ${(err as Error).message.split('\n')[0]}` })
  } finally {
    await lab.close(!ok)
  }
}

function mean(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0
}
function median(v: number[]): number | null {
  if (!v.length) return null
  const s = [...v].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

// ---------------------------------------------------------------------------------------------
// the table

interface Target {
  kind: 'ratio' | 'abs'
  max: number
  onlyN?: number
  label: string
}
const TARGETS: Record<string, Target> = {
  'crash.all_ms': { kind: 'ratio', max: 0.25, label: '≤ 0.25×' },
  'freeze.all_ms': { kind: 'ratio', max: 0.6, label: '≤ 0.6×' },
  'leave.all_ms': { kind: 'ratio', max: 0.5, label: '≤ 0.5×' },
  'form.all_ms': { kind: 'ratio', max: 1, label: '≤ 1×' },
  'rejoin.all_ms': { kind: 'ratio', max: 1, label: '≤ 1×' },
  'soak.false_failures': { kind: 'abs', max: 0, label: '= 0' },
  'stall.failed_verdicts': { kind: 'abs', max: 0, label: '= 0' },
  'leave.failed_verdicts': { kind: 'abs', max: 0, label: '= 0' },
  'idle.cpu_pct': { kind: 'ratio', max: 3, label: '≤ 3×' },
  'idle.rss_mib': { kind: 'ratio', max: 6, label: '≤ 6×' },
  'idle.tx_Bps': { kind: 'abs', max: 1024, onlyN: 40, label: '≤ 1024 B/s @N=40' },
}

interface Row {
  mode: Mode
  n: number
  metric: string
  rollcall: number | null
  serf: number | null
  ratio: number | null
  target?: string
  met?: boolean
  reps: number
}

function summarize(): Row[] {
  const rows: Row[] = []
  const keys = new Map<string, { mode: Mode; n: number; metric: string }>()
  for (const r of results) for (const m of Object.keys(r.metrics)) keys.set(`${r.mode}|${r.n}|${r.scenario}.${m}`, { mode: r.mode, n: r.n, metric: `${r.scenario}.${m}` })
  for (const { mode, n, metric } of keys.values()) {
    const [scenario, m] = metric.split('.')
    const vals = (system: System) =>
      results.filter((r) => r.mode === mode && r.n === n && r.system === system && r.scenario === scenario && typeof r.metrics[m] === 'number').map((r) => r.metrics[m] as number)
    const rv = vals('rollcall')
    const sv = vals('serf')
    const rc = median(rv)
    const sf = median(sv)
    const ratio = rc !== null && sf !== null && sf > 0 ? rc / sf : null
    const t = TARGETS[metric]
    let met: boolean | undefined
    if (t && (!t.onlyN || t.onlyN === n)) {
      if (t.kind === 'ratio' && ratio !== null) met = ratio <= t.max
      if (t.kind === 'abs' && rc !== null) met = metric.startsWith('idle.tx') ? rc <= t.max : rv.every((x) => x <= t.max)
    }
    rows.push({ mode, n, metric, rollcall: rc, serf: sf, ratio, target: t && (!t.onlyN || t.onlyN === n) ? t.label : undefined, met, reps: Math.max(rv.length, sv.length) })
  }
  const order = (m: string) => {
    const i = ALL_SCENARIOS.indexOf(m.split('.')[0] as Scenario)
    return i < 0 ? 99 : i
  }
  return rows.sort((a, b) => a.mode.localeCompare(b.mode) || a.n - b.n || order(a.metric) - order(b.metric))
}

function fmt(v: number | null, metric: string): string {
  if (v === null) return '—'
  if (metric.endsWith('_ms')) return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`
  if (metric.endsWith('_pct')) return `${v.toFixed(2)} %`
  if (metric.endsWith('_mib')) return `${v.toFixed(1)} MiB`
  if (metric.endsWith('_Bps')) return `${Math.round(v)} B/s`
  return Number.isInteger(v) ? String(v) : v.toFixed(1)
}

function table(rows: Row[]): string {
  const head = ['mode', 'N', 'metric (median)', 'Rollcall', 'Serf', 'Rollcall/Serf', 'target', 'met']
  const body = rows.map((r) => [r.mode, String(r.n), r.metric, fmt(r.rollcall, r.metric), fmt(r.serf, r.metric), r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`, r.target ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO'])
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`
  return [line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...body.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------------

/** Largest results file --table reads (a full run is ~2 MB). */
const MAX_RESULTS_FILE_BYTES = 64 * 1024 * 1024

/** `--table FILE`: the table of a saved run, from its rows; a clear error for anything else. */
function printSavedTable(file: string): void {
  let size: number
  try {
    size = fs.statSync(file).size
  } catch (err) {
    usage(`--table: cannot read ${file}: ${(err as Error).message}`)
  }
  if (size > MAX_RESULTS_FILE_BYTES) usage(`--table: ${file} is ${size} bytes, more than a results file (${MAX_RESULTS_FILE_BYTES})`)
  let saved: { rows?: unknown; complete?: unknown; labRuns?: unknown; labRunsDone?: unknown; startedAt?: unknown; durationS?: unknown; machine?: { rollcallCommit?: unknown } }
  try {
    saved = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    usage(`--table: ${file} is not JSON: ${(err as Error).message}`)
  }
  const isRow = (r: unknown): r is Row => {
    const x = r as Row
    return typeof x === 'object' && x !== null && typeof x.mode === 'string' && typeof x.n === 'number' && typeof x.metric === 'string' &&
      (x.rollcall === null || typeof x.rollcall === 'number') && (x.serf === null || typeof x.serf === 'number') && (x.ratio === null || typeof x.ratio === 'number')
  }
  if (typeof saved !== 'object' || saved === null || !Array.isArray(saved.rows) || !saved.rows.every(isRow)) usage(`--table: ${file} is not a bench results file (no valid "rows")`)
  const done = saved.complete === false ? `stopped early: ${String(saved.labRunsDone)} of ${String(saved.labRuns)} lab runs` : 'complete'
  console.log(`${path.relative(process.cwd(), file)}: started ${String(saved.startedAt)}, ${String(saved.durationS)} s, Rollcall ${String(saved.machine?.rollcallCommit)}, ${done}\n`)
  console.log(table(saved.rows))
}

async function main(): Promise<void> {
  if (flags.table !== undefined) return printSavedTable(flags.table)
  ensureSerf()
  let modes = flags.modes
  if (modes.includes('ns')) {
    const why = nsUnavailableReason()
    if (why) {
      progress(`namespace mode skipped: ${why}`)
      modes = modes.filter((m) => m !== 'ns')
    }
  }
  // Agents start as on a machine whose agent has run before: with their code cache.
  const codeCacheWarm = flags.systems.includes('rollcall') && flags.rollcallConfig === undefined ? await warmCodeCache(progress) : undefined
  if (codeCacheWarm === false) progress('warning: no agent code cache could be written; Rollcall agents compile at every start')
  const info = { ...machine(), codeCacheWarm }
  progress(`machine: ${info.cpus} cores, ${info.memGiB} GiB, Node ${info.node}, ${info.os}, serf ${info.serf}; rollcall ${info.rollcallCommit}${info.coreModified ? ' + uncommitted core changes' : ''}`)
  progress(`plan: N=${flags.n.join(',')} modes=${modes.join(',')} reps=${flags.reps} systems=${flags.systems.join(',')} scenarios=${flags.scenarios.join(',')} soak=${flags.soakS}s idle=${flags.idleS}s settle=${flags.settleS ?? 'N'}s`)
  // The JSON is written after every lab run (complete: false) and once more at the end, so an
  // interrupted run of an hour or two keeps what it measured.
  fs.mkdirSync(flags.out, { recursive: true })
  const file = path.join(flags.out, `${new Date(t0Run).toISOString().replace(/[:.]/g, '-')}.json`)
  const labRuns = modes.length * flags.n.length * flags.reps * flags.systems.length
  let labRunsDone = 0
  const save = (complete: boolean, rows: Row[] = summarize()) => {
    const tmp = `${file}.tmp`
    fs.writeFileSync(tmp, JSON.stringify({ startedAt: new Date(t0Run).toISOString(), durationS: Math.round((Date.now() - t0Run) / 1000), complete, labRuns, labRunsDone, argv: process.argv.slice(2), flags, machine: info, rows, results }, null, 2) + '\n')
    fs.renameSync(tmp, file)
  }
  let finished = false
  process.on('exit', () => {
    if (!finished && labRunsDone > 0) process.stderr.write(`bench stopped early: ${labRunsDone} of ${labRuns} lab runs are saved in ${path.relative(process.cwd(), file)} (complete: false)\n`)
  })
  for (const mode of modes) {
    for (const n of flags.n) {
      for (let rep = 0; rep < flags.reps; rep++) {
        // Alternate which system goes first, so neither always runs on a freshly idle machine.
        const order = rep % 2 === 0 ? flags.systems : [...flags.systems].reverse()
        for (const system of order) {
          await runLab(mode, n, system, rep)
          labRunsDone++
          try {
            save(false)
          } catch (err) {
            progress(`could not save results so far to ${file}: ${(err as Error).message}`)
          }
          if (labRunsDone === 1) progress(`results so far are saved after every lab run to ${path.relative(process.cwd(), file)}`)
        }
      }
    }
  }
  const rows = summarize()
  const text = table(rows)
  console.log(`\nRollcall (profile lan${flags.rollcallConfig ? ` + ${JSON.stringify(flags.rollcallConfig)}` : ''}) vs Serf ${info.serf ?? ''} (LAN), medians over reps; ${info.cpus} cores, Node ${info.node}, ${info.os}\n`)
  console.log(text)
  save(true, rows)
  finished = true
  console.log(`\nJSON: ${path.relative(process.cwd(), file)}  (${Math.round((Date.now() - t0Run) / 1000)} s)`)
}

await main()
process.exit(0)
