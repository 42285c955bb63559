// The properties a simulated run must have (used by the CLI, the sweep and test/sim). Safety
// properties are watched while the run goes (the simulator feeds every membership event to the
// monitors here); liveness properties are judged at the end against documented bounds.
//
// Safety
//  - No live member is declared failed while loss ≤ SAFE_LOSS, except members that were
//    unreachable for longer than the tolerance (a stall, or a symmetric partition, beyond
//    toleranceMs): those may be failed at the incarnation they had then, and must refute.
//    One-way faults and cut links are never forgiven: indirect probes exist for them (SWIM §3.1).
//  - A graceful leave is never recorded as a failure: after a member announced its leave, no
//    one emits member:failed for it at the leave's incarnation or above.
//  - Removed members are not resurrected: after member:removed for id@inc, the same observer
//    emits nothing else for id at an incarnation ≤ inc.
// Liveness (only judged when the run lasts long enough after the fault for the bound to pass;
// after a symmetric partition, bounds run from the heal plus healthRecoveryMs)
//  - every crashed member is held failed (or removed) by every live member within crashDetectBoundMs;
//  - after the last fault ends (and partitions heal) all live members agree within agreementBoundMs;
//  - joined and restarted members are held alive (at the new incarnation) by all within agreementBoundMs;
//  - a stalled member is held alive by all again within agreementBoundMs of waking;
//  - a leaver is held left by all within agreementBoundMs.
// "Agree" means: every live member is joined, all hold the same view digest, every live member
// is held alive (not suspect) at its current life's incarnation or above, and no dead member is
// held up. So a false suspicion that ended in failed, or never ended, fails agreement.

import { failureDetectionBoundMs, suspicionMinMs, type ProtocolConfig } from '../protocol/config.js'
import type { SimSummary, Violation } from './summary.js'

/** Loss up to which no live member may be declared failed (the brief's bound). */
export const SAFE_LOSS = 0.1

/**
 * How long a member may be unreachable (stalled, or behind a symmetric partition) and still
 * must never be declared failed: the suspicion floor, less one probe period to be suspected
 * and one to hear of it and refute. Longer outages may end in failed, then refuted.
 */
export function toleranceMs(cfg: ProtocolConfig, members: number): number {
  return Math.max(cfg.probeTimeoutMs, suspicionMinMs(cfg, members) - 2 * cfg.probeIntervalMs)
}

/**
 * How long local health (Lifeguard §IV.A) can keep a member's timeouts stretched after a
 * partition: health drops one step per successful probe and each probe period lasts
 * probeIntervalMs × (1 + health), so from maxHealth back to 0 takes Σ_{h=1..max} (1 + h) periods.
 * failureDetectionBoundMs assumes healthy observers; a partition heal starts this much grace.
 */
export function healthRecoveryMs(cfg: ProtocolConfig): number {
  const m = cfg.maxHealth
  return cfg.probeIntervalMs * ((m * (m + 1)) / 2 + m)
}

/** Every live member holds a crashed one failed within this (the protocol's bound plus one sync round). */
export function crashDetectBoundMs(cfg: ProtocolConfig, members: number): number {
  return failureDetectionBoundMs(cfg, members) + cfg.syncIntervalMs
}

/** All live members agree within this after faults stop and partitions heal. */
export function agreementBoundMs(cfg: ProtocolConfig, members: number): number {
  return failureDetectionBoundMs(cfg, members) + 3 * cfg.syncIntervalMs
}

/** Watches one run's events for resurrections of removed members, per observer. */
export class ResurrectionMonitor {
  private readonly removed = new Map<number, Map<number, number>>()

  /** Returns a message when the event resurrects a member this observer removed. */
  onEvent(observer: number, target: number, to: string, incarnation: number): string | undefined {
    let m = this.removed.get(observer)
    if (to === 'removed') {
      if (!m) this.removed.set(observer, (m = new Map()))
      m.set(target, Math.max(incarnation, m.get(target) ?? -1))
      return undefined
    }
    const inc = m?.get(target)
    if (inc === undefined) return undefined
    m!.delete(target)
    return incarnation <= inc ? `${to} at incarnation ${incarnation} after it was removed at ${inc}` : undefined
  }
}

/**
 * Judge a finished run: the safety findings it streamed (false failures are judged here, so
 * the summary keeps them all) and the liveness bounds. Returns every violation.
 */
export function evaluate(s: SimSummary, streamed: Violation[] = []): Violation[] {
  const out: Violation[] = [...streamed]
  const loss = s.options.loss ?? 0
  if (loss <= SAFE_LOSS) {
    for (const f of s.falseFailures.list) {
      if (f.exempt) continue
      out.push({ check: 'safety:false-failure', atMs: f.atMs, message: `live member ${f.target}@${f.incarnation} declared failed by ${f.by} at ${f.atMs.toFixed(1)} ms (${f.rule}; loss ${loss})` })
    }
    const unlisted = s.falseFailures.count - s.falseFailures.list.filter((f) => !f.exempt).length
    if (unlisted > 0) out.push({ check: 'safety:false-failure', message: `${unlisted} more false failures not listed` })
  }
  const { crashDetectMs, agreementMs } = s.bounds
  const end = s.endMs
  // A symmetric partition overlapping a measurement delays everyone across it until the heal,
  // and leaves observers' local health raised for a while after it (healthRecoveryMs): the
  // bound then runs from the heal plus that recovery.
  const heals = s.faults.filter((f) => f.kind === 'partition' && f.variant === 'sym').sort((a, b) => a.atMs - b.atMs)
  const recovery = healthRecoveryMs(s.config)
  const boundFrom = (t: number, bound: number) => {
    let from = t
    for (const p of heals) if (p.atMs <= from + bound && from < p.endMs + recovery) from = Math.max(from, p.endMs + recovery)
    return from
  }
  /** `origin`: when the measurement started; `d`: time from origin to every live member (null: never). */
  const late = (what: string, d: number | null, origin: number, bound: number) => {
    const from = boundFrom(origin, bound)
    if (d === null) {
      if (end - from >= bound) out.push({ check: 'liveness:' + what, atMs: origin, message: `not reflected by every live member by the end of the run (${end - from} ms after, bound ${bound} ms)` })
    } else if (origin + d - from > bound) {
      out.push({ check: 'liveness:' + what, atMs: origin, message: `took ${(origin + d - from).toFixed(1)} ms, bound ${bound} ms` })
    }
  }
  for (const f of s.faults) {
    const label = `${f.kind} ${f.node} at ${f.atMs.toFixed(1)} ms`
    switch (f.kind) {
      case 'crash':
      case 'crash-silent':
        late(`crash-detected (${label})`, f.detect.allMs, f.atMs, crashDetectMs)
        break
      case 'restart':
        late(`restart-known (${label})`, f.detect.allMs, f.endMs, agreementMs)
        break
      case 'join':
      case 'leave':
        late(`${f.kind}-known (${label})`, f.detect.allMs, f.atMs, agreementMs)
        break
      case 'stall':
        if (f.recover) late(`stall-recovered (${label})`, f.recover.allMs, f.endMs, agreementMs)
        else if (end - f.endMs >= agreementMs) out.push({ check: `liveness:stall-recovered (${label})`, message: 'never woke within the run' })
        break
      case 'partition':
        late(`partition-healed (${label})`, f.detect.allMs, f.endMs, agreementMs)
        break
    }
  }
  const a = s.agreement
  late('agreement', a.afterLastFaultMs, a.lastFaultEndMs, agreementMs)
  return out
}
