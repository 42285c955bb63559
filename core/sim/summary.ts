// The result of a simulated run: plain data (JSON-ready), plus the helpers that summarise and
// print it. Everything here except `run.wallMs` and `run.heapUsedMB` is a pure function of the
// options, so two runs with one seed give identical summaries (test/sim/determinism.test.ts).

import type { ProtocolConfig } from '../protocol/config.js'
import type { SimOptions } from './options.js'

export type FaultKind = 'crash' | 'crash-silent' | 'stall' | 'leave' | 'join' | 'restart' | 'partition'

/** Time from the fault to the first and to every live member reflecting it (null: never, within the run). */
export interface Detection {
  firstMs: number | null
  allMs: number | null
}

/**
 * One injected fault and what the group made of it. What "reflected" means by kind:
 * crash, crash-silent: held failed (or removed) · stall: held suspect or failed ·
 * leave: held left · join: held alive · restart: held alive at the new incarnation ·
 * partition: every live member agrees again (first = all), counted from the heal.
 */
export interface FaultRecord {
  kind: FaultKind
  /** The node concerned (for asym/cut partitions: the pair as "a>b"; for sym: the size of one side). */
  node: string
  atMs: number
  /** When the fault stops: stall wake-up, partition heal, leaving node's stop; = atMs for instant faults. */
  endMs: number
  /** partition: sym, asym or cut. */
  variant?: string
  /** The node's incarnation when the fault hit (restart: its new incarnation). */
  incarnation?: number
  detect: Detection
  /** stall: members that declared it failed (its refutation must still win), and time until all hold it alive after it woke. */
  failedBy?: number
  recover?: Detection
}

export interface Pct {
  n: number
  p50: number
  p99: number
  max: number
}

export interface DetectionStats {
  kind: string
  count: number
  first: Pct | null
  all: Pct | null
  /** Faults never reflected by anyone / by everyone within the run. */
  missingFirst: number
  missingAll: number
}

/** A live member declared failed by someone. */
export interface FalseFailure {
  target: string
  by: string
  atMs: number
  incarnation: number
  rule: string
  /** Why the safety check forgives it (a stall or partition beyond tolerance), if it does. */
  exempt?: string
}

export interface Violation {
  /** Which check: safety:false-failure, safety:leave-as-failure, safety:resurrection, liveness:… */
  check: string
  message: string
  atMs?: number
}

export interface TrafficStats {
  /** Per node per second of running time. */
  msgsSentPerNodeSec: number
  msgsRecvPerNodeSec: number
  bytesSentPerNodeSec: number
  bytesRecvPerNodeSec: number
  /** How bytes are counted. */
  bytesMethod: string
  /** Messages sent by type (a broadcast counts GOSSIP_D per publish). */
  sentByType: Record<string, number>
  nodeSeconds: number
}

export interface SimSummary {
  seed: number
  options: Omit<SimOptions, 'onProgress'>
  command: string
  profile: string
  /** The resolved protocol config the run used. */
  config: ProtocolConfig
  members: number
  endMs: number
  faults: FaultRecord[]
  detection: DetectionStats[]
  falseFailures: { count: number; exempt: number; list: FalseFailure[] }
  falseSuspicions: { events: number; distinct: number }
  agreement: {
    /** When the last fault ended (0 with no faults: then it measures formation). */
    lastFaultEndMs: number
    /** First time after that when all live members agreed; null if never. */
    agreedAtMs: number | null
    afterLastFaultMs: number | null
    /** Did they agree at the end of the run? */
    atEnd: boolean
  }
  bounds: { toleranceMs: number; crashDetectMs: number; agreementMs: number }
  traffic: TrafficStats
  protocol: Record<string, number>
  /** Membership events emitted, by type, summed over every observer. */
  events: Record<string, number>
  /** Log decisions by level and message (the text before the first colon). */
  logs: Record<string, number>
  violations: Violation[]
  run: {
    events: number
    handles: number
    staleTicks: number
    maxQueue: number
    wallMs: number
    /** Of which building the group (preformed: every node's full view). */
    setupWallMs: number
    heapUsedMB: number
    /** The protocol's own stall detector fired on nodes the simulator never stalled. */
    spuriousStallDetections: number
  }
}

// ---------------------------------------------------------------------------------------------

/** Nearest-rank percentiles. */
export function pct(values: number[]): Pct | null {
  if (values.length === 0) return null
  const v = values.slice().sort((a, b) => a - b)
  const at = (p: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]
  return { n: v.length, p50: at(0.5), p99: at(0.99), max: v[v.length - 1] }
}

export function detectionStats(faults: FaultRecord[]): DetectionStats[] {
  const kinds: [string, (f: FaultRecord) => Detection | undefined, FaultKind[]][] = [
    ['crash', (f) => f.detect, ['crash']],
    ['crash-silent', (f) => f.detect, ['crash-silent']],
    ['stall→suspect', (f) => f.detect, ['stall']],
    ['stall→alive', (f) => f.recover, ['stall']],
    ['leave', (f) => f.detect, ['leave']],
    ['join', (f) => f.detect, ['join']],
    ['restart', (f) => f.detect, ['restart']],
    ['partition-heal', (f) => f.detect, ['partition']],
  ]
  const out: DetectionStats[] = []
  for (const [kind, get, which] of kinds) {
    const ds = faults.filter((f) => which.includes(f.kind)).map(get).filter((d): d is Detection => d !== undefined)
    if (ds.length === 0) continue
    const first = ds.map((d) => d.firstMs).filter((x): x is number => x !== null)
    const all = ds.map((d) => d.allMs).filter((x): x is number => x !== null)
    out.push({ kind, count: ds.length, first: pct(first), all: pct(all), missingFirst: ds.length - first.length, missingAll: ds.length - all.length })
  }
  return out
}

/** Summary without the fields that depend on the machine (for determinism comparisons). */
export function deterministicPart(s: SimSummary): Omit<SimSummary, 'run'> & { run: Omit<SimSummary['run'], 'wallMs' | 'heapUsedMB' | 'setupWallMs'> } {
  const { wallMs: _w, heapUsedMB: _h, setupWallMs: _s, ...run } = s.run
  return { ...s, run }
}

// ---------------------------------------------------------------------------------------------
// Text output

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}`)
/** A duration in prose: "225 ms", "11.8 s", "never". */
const dur = (v: number | null | undefined) => (v === null || v === undefined ? 'never' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`)
const num = (v: number, d = 2) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(d))

export function formatTable(s: SimSummary): string {
  const o = s.options
  const lines: string[] = []
  const faults: string[] = []
  if (o.crash) faults.push(`crash ${o.crash}`)
  if (o.crashSilent) faults.push(`crash-silent ${o.crashSilent}`)
  for (const st of o.stalls ?? []) faults.push(`stall ${st.count}×${st.ms}ms`)
  if (o.leave) faults.push(`leave ${o.leave}`)
  if (o.restart) faults.push(`restart ${o.restart}`)
  if (o.join) faults.push(`join ${o.join}`)
  for (const p of s.faults.filter((f) => f.kind === 'partition')) faults.push(`${p.variant} ${p.node} @${(p.atMs / 1000).toFixed(1)}s for ${((p.endMs - p.atMs) / 1000).toFixed(1)}s`)
  lines.push(`rollcall sim  seed ${s.seed}  members ${s.members}  ${s.endMs / 1000} s virtual  profile ${s.profile}${o.preformed ? '  preformed' : ''}`)
  lines.push(`network  delay ${(o.delayMs ?? [0.5, 3]).join('–')} ms  loss ${(100 * (o.loss ?? 0)).toFixed(1)}%  dup ${(100 * (o.dup ?? 0)).toFixed(1)}%`)
  lines.push(`faults   ${faults.length ? faults.join(', ') : 'none'}`)
  lines.push('')
  const head = ['event', 'n', 'first p50', 'p99', 'max', 'all p50', 'p99', 'max', 'missing']
  const rows = s.detection.map((d) => [
    d.kind, String(d.count), ms(d.first?.p50), ms(d.first?.p99), ms(d.first?.max), ms(d.all?.p50), ms(d.all?.p99), ms(d.all?.max),
    d.missingFirst || d.missingAll ? `${d.missingFirst}/${d.missingAll}` : '',
  ])
  if (rows.length) {
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
    const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')
    lines.push('detection (virtual ms; missing = never first / never all)')
    lines.push(fmt(head))
    for (const r of rows) lines.push(fmt(r))
    lines.push('')
  }
  for (const f of s.faults.filter((x) => x.kind === 'stall')) {
    lines.push(`stall    ${f.node} for ${f.endMs - f.atMs} ms at ${(f.atMs / 1000).toFixed(1)}s: suspected after ${dur(f.detect.firstMs)} (by all after ${dur(f.detect.allMs)}), declared failed by ${f.failedBy ?? 0}, alive everywhere ${dur(f.recover?.allMs)} after waking`)
  }
  const ff = s.falseFailures
  lines.push(`false failures    ${ff.count}${ff.exempt ? ` (+${ff.exempt} forgiven: stall/partition beyond tolerance ${dur(s.bounds.toleranceMs)})` : ''}`)
  for (const f of ff.list.filter((x) => !x.exempt).slice(0, 8)) lines.push(`  ${f.target}@${f.incarnation} by ${f.by} at ${(f.atMs / 1000).toFixed(3)}s (${f.rule})`)
  lines.push(`false suspicions  ${s.falseSuspicions.events} events, ${s.falseSuspicions.distinct} distinct member@incarnation`)
  const a = s.agreement
  lines.push(`agreement         ${dur(a.afterLastFaultMs)} after the last fault ended (t=${(a.lastFaultEndMs / 1000).toFixed(1)}s; bound ${dur(s.bounds.agreementMs)}); agreed at end: ${a.atEnd ? 'yes' : 'NO'}`)
  const t = s.traffic
  lines.push(`traffic           ${num(t.msgsSentPerNodeSec)} msgs sent, ${num(t.msgsRecvPerNodeSec)} received, ${num(t.bytesSentPerNodeSec, 0)} B sent, ${num(t.bytesRecvPerNodeSec, 0)} B received per node per second (${t.bytesMethod})`)
  lines.push(`                  by type: ${Object.entries(t.sentByType).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  const p = s.protocol
  lines.push(`protocol          probes ${p.probes}, failed ${p.probeFailures}, indirect ${p.indirectProbes}, suspicions ${p.suspicionsStarted}, refutations ${p.refutations}, syncs ${p.syncsStarted}, stall detections ${p.stalls} (${s.run.spuriousStallDetections} on nodes never stalled)`)
  lines.push(`run               ${s.run.events.toLocaleString('en-US')} events, ${s.run.handles.toLocaleString('en-US')} inputs, ${(s.run.wallMs / 1000).toFixed(2)} s wall (setup ${(s.run.setupWallMs / 1000).toFixed(2)} s), max queue ${s.run.maxQueue.toLocaleString('en-US')}, heap ${s.run.heapUsedMB} MB`)
  lines.push('')
  if (s.violations.length === 0) lines.push('checks            OK')
  else {
    lines.push(`checks            FAILED (${s.violations.length})`)
    for (const v of s.violations.slice(0, 20)) lines.push(`  ${v.check}: ${v.message}`)
    if (s.violations.length > 20) lines.push(`  … ${s.violations.length - 20} more`)
  }
  return lines.join('\n')
}
