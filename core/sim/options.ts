// What a simulated run is made of: the options, their defaults and checks, the fault specs'
// text forms, and the command line that replays a run. Shared by the CLI, the sweep and tests.

import { PROFILES, resolveConfig, type ProfileName, type ProtocolConfig } from '../protocol/config.js'

/**
 * sym: the group splits into two random halves that cannot reach each other.
 * asym: one-way fault between a random pair: messages A→B are dropped, B→A arrive.
 * cut: the link A↔B is cut both ways while both still reach everyone else.
 */
export type PartitionKind = 'sym' | 'asym' | 'cut'

export interface PartitionSpec {
  kind: PartitionKind
  /** Start, in virtual seconds; omitted: a random time in the fault window. */
  atS?: number
  /** Duration in virtual seconds; omitted: DEFAULT_PARTITION_S. */
  forS?: number
}

export interface StallSpec {
  /** How many nodes stall (each at its own random time in the fault window). */
  count: number
  /** How long each stall lasts, in virtual ms. */
  ms: number
}

export interface SimOptions {
  /** The one seed behind every random choice of the run (32-bit unsigned). */
  seed: number
  /** Nodes present from the start. */
  nodes: number
  /** Virtual run length in seconds. */
  seconds: number
  profile?: ProfileName
  /** Overrides on the profile, checked by resolveConfig. */
  config?: Partial<ProtocolConfig>
  /** Per-message loss probability (unicast, and per recipient of a broadcast). */
  loss?: number
  /** Per-message duplication probability (unicast only: gossipsub deduplicates by message id). */
  dup?: number
  /** One-way link delay range [min, max] in ms, uniform per message; reordering follows from the spread. */
  delayMs?: [number, number]
  /** Nodes whose process dies while the host stays up: sends to them are refused. */
  crash?: number
  /** Nodes whose host vanishes: everything sent to them is silently dropped. */
  crashSilent?: number
  stalls?: StallSpec[]
  /** Nodes that leave gracefully, then stop. */
  leave?: number
  /** Nodes that crash (refused) and come back with incarnation = persisted + 1. */
  restart?: number
  /** Extra nodes that start late and join through 1–3 seed members. */
  join?: number
  partitions?: PartitionSpec[]
  /** Every node starts already knowing every other (cheap even at 10,000 nodes). */
  preformed?: boolean
  /** Faults happen at random times within [from, to] × run length. */
  faultWindow?: [number, number]
  /** How often (virtual ms) to test for agreement while a measurement waits for it. */
  checkIntervalMs?: number
  /** Bound on pending events (see queue.ts). */
  queueLimit?: number
  /** Called now and then with virtual time done and total, for a progress bar. */
  onProgress?: (virtualMs: number, totalMs: number) => void
  /** Member ids whose events (as seen by every observer), faults and messages are reported to onTrace. */
  trace?: string[]
  onTrace?: (line: string) => void
}

export const DEFAULT_DELAY_MS: [number, number] = [0.5, 3]
export const DEFAULT_FAULT_WINDOW: [number, number] = [0.2, 0.6]
export const DEFAULT_PARTITION_S = 5
/** Members that must stay out of every fault, so there is always someone to observe. */
export const MIN_HEALTHY = 2

export class SimOptionsError extends Error {
  override name = 'SimOptionsError'
}

/** Options with every default filled in and the protocol config resolved. */
export interface ResolvedOptions extends Required<Omit<SimOptions, 'config' | 'onProgress' | 'profile' | 'trace' | 'onTrace'>> {
  profile: ProfileName
  overrides: Partial<ProtocolConfig>
  cfg: ProtocolConfig
  onProgress: SimOptions['onProgress']
  trace: Set<string>
  onTrace: (line: string) => void
}

export function resolveOptions(o: SimOptions): ResolvedOptions {
  const need = (ok: boolean, msg: string) => {
    if (!ok) throw new SimOptionsError(msg)
  }
  need(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff, `seed must be an integer in 0..2^32-1, got ${o.seed}`)
  need(Number.isInteger(o.nodes) && o.nodes >= 1 && o.nodes <= 20_000, `nodes must be an integer in 1..20000, got ${o.nodes}`)
  need(Number.isFinite(o.seconds) && o.seconds > 0, `seconds must be > 0, got ${o.seconds}`)
  const profile = o.profile ?? 'local'
  need(profile in PROFILES, `profile must be one of ${Object.keys(PROFILES).join(', ')}, got ${profile}`)
  let cfg: ProtocolConfig
  try {
    cfg = resolveConfig(PROFILES[profile], o.config ?? {})
  } catch (e) {
    throw new SimOptionsError((e as Error).message)
  }
  const prob = (v: number | undefined, name: string) => {
    const p = v ?? 0
    need(Number.isFinite(p) && p >= 0 && p < 1, `${name} must be a probability in [0, 1), got ${v}`)
    return p
  }
  const count = (v: number | undefined, name: string) => {
    const k = v ?? 0
    need(Number.isInteger(k) && k >= 0, `${name} must be a whole number ≥ 0, got ${v}`)
    return k
  }
  const delayMs = o.delayMs ?? DEFAULT_DELAY_MS
  need(delayMs.length === 2 && delayMs[0] >= 0 && delayMs[1] >= delayMs[0] && Number.isFinite(delayMs[1]), `delay must be MIN-MAX ms with 0 ≤ MIN ≤ MAX, got ${delayMs.join('-')}`)
  const faultWindow = o.faultWindow ?? DEFAULT_FAULT_WINDOW
  need(faultWindow[0] >= 0 && faultWindow[1] >= faultWindow[0] && faultWindow[1] <= 1, `fault window must be FROM-TO fractions with 0 ≤ FROM ≤ TO ≤ 1, got ${faultWindow.join('-')}`)
  const stalls = (o.stalls ?? []).map((s) => {
    need(Number.isInteger(s.count) && s.count >= 0 && Number.isFinite(s.ms) && s.ms > 0, `stall must be K:MS with K ≥ 0 and MS > 0, got ${s.count}:${s.ms}`)
    return { ...s }
  })
  const partitions = (o.partitions ?? []).map((p) => {
    need(p.kind === 'sym' || p.kind === 'asym' || p.kind === 'cut', `partition kind must be sym, asym or cut, got ${p.kind}`)
    need(p.atS === undefined || (Number.isFinite(p.atS) && p.atS >= 0), `partition start must be ≥ 0 s, got ${p.atS}`)
    need(p.forS === undefined || (Number.isFinite(p.forS) && p.forS > 0), `partition duration must be > 0 s, got ${p.forS}`)
    return { ...p }
  })
  const r: ResolvedOptions = {
    seed: o.seed >>> 0,
    nodes: o.nodes,
    seconds: o.seconds,
    profile,
    overrides: { ...(o.config ?? {}) },
    cfg,
    loss: prob(o.loss, 'loss'),
    dup: prob(o.dup, 'dup'),
    delayMs: [delayMs[0], delayMs[1]],
    crash: count(o.crash, 'crash'),
    crashSilent: count(o.crashSilent, 'crash-silent'),
    stalls,
    leave: count(o.leave, 'leave'),
    restart: count(o.restart, 'restart'),
    join: count(o.join, 'join'),
    partitions,
    preformed: o.preformed ?? false,
    faultWindow: [faultWindow[0], faultWindow[1]],
    checkIntervalMs: o.checkIntervalMs ?? Math.min(100, Math.max(1, Math.floor(cfg.probeIntervalMs / 4))),
    queueLimit: o.queueLimit ?? 20_000_000,
    onProgress: o.onProgress,
    trace: new Set(o.trace ?? []),
    onTrace: o.onTrace ?? ((line) => process.stderr.write(line + '\n')),
  }
  const victims = r.crash + r.crashSilent + r.leave + r.restart + stalls.reduce((a, s) => a + s.count, 0)
  need(victims <= Math.max(0, r.nodes - MIN_HEALTHY), `too many faulty nodes: ${victims} of ${r.nodes} (keep at least ${MIN_HEALTHY} untouched)`)
  need(partitions.every((p) => p.kind === 'sym') || r.nodes >= 3, 'asym and cut partitions need at least 3 nodes (the pair must reach someone else)')
  return r
}

// ---------------------------------------------------------------------------------------------
// Text forms

/** `sym@12+5` (start 12 s, for 5 s), `asym+3` (random start, 3 s), `cut@20`, `sym`. */
export function parsePartition(text: string): PartitionSpec {
  const m = /^(sym|asym|cut)(?:@(\d+(?:\.\d+)?))?(?:\+(\d+(?:\.\d+)?))?$/.exec(text)
  if (!m) throw new SimOptionsError(`bad partition "${text}": want KIND[@START_S][+DURATION_S] with KIND sym, asym or cut`)
  const spec: PartitionSpec = { kind: m[1] as PartitionKind }
  if (m[2] !== undefined) spec.atS = Number(m[2])
  if (m[3] !== undefined) spec.forS = Number(m[3])
  return spec
}

export function formatPartition(p: PartitionSpec): string {
  return `${p.kind}${p.atS !== undefined ? `@${p.atS}` : ''}${p.forS !== undefined ? `+${p.forS}` : ''}`
}

/** `2:5000`: two nodes stall for 5000 ms each. */
export function parseStall(text: string): StallSpec {
  const m = /^(\d+):(\d+(?:\.\d+)?)$/.exec(text)
  if (!m) throw new SimOptionsError(`bad stall "${text}": want K:MS (e.g. 1:5000)`)
  return { count: Number(m[1]), ms: Number(m[2]) }
}

/** `0.5-3` → [0.5, 3]. */
export function parseRange(text: string, what: string): [number, number] {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(text)
  if (!m) throw new SimOptionsError(`bad ${what} "${text}": want MIN-MAX`)
  return [Number(m[1]), Number(m[2])]
}

/** The CLI arguments that replay these options exactly (the seed makes the rest). */
export function toArgs(o: SimOptions): string[] {
  const a = ['--nodes', String(o.nodes), '--seconds', String(o.seconds), '--seed', String(o.seed)]
  if (o.profile && o.profile !== 'local') a.push('--profile', o.profile)
  if (o.preformed) a.push('--preformed')
  if (o.loss) a.push('--loss', String(o.loss))
  if (o.dup) a.push('--dup', String(o.dup))
  if (o.delayMs) a.push('--delay', `${o.delayMs[0]}-${o.delayMs[1]}`)
  if (o.crash) a.push('--crash', String(o.crash))
  if (o.crashSilent) a.push('--crash-silent', String(o.crashSilent))
  for (const s of o.stalls ?? []) a.push('--stall', `${s.count}:${s.ms}`)
  if (o.leave) a.push('--leave', String(o.leave))
  if (o.restart) a.push('--restart', String(o.restart))
  if (o.join) a.push('--join', String(o.join))
  for (const p of o.partitions ?? []) a.push('--partition', formatPartition(p))
  if (o.faultWindow) a.push('--window', `${o.faultWindow[0]}-${o.faultWindow[1]}`)
  for (const [k, v] of Object.entries(o.config ?? {})) a.push('--config', `${k}=${v}`)
  return a
}

/** The exact command that replays a run. */
export function replayCommand(o: SimOptions): string {
  return `npm run sim -- ${toArgs(o).join(' ')}`
}
