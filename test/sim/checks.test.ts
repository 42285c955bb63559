import { describe, expect, it } from 'vitest'
import { LOCAL_PROFILE } from '../../core/protocol/config.js'
import { agreementBoundMs, crashDetectBoundMs, evaluate, ResurrectionMonitor, toleranceMs } from '../../core/sim/checks.js'
import { runSimulation } from '../../core/sim/sim.js'
import type { FaultRecord, SimSummary } from '../../core/sim/summary.js'

describe('ResurrectionMonitor', () => {
  it('flags an event at or below the removed incarnation, per observer', () => {
    const m = new ResurrectionMonitor()
    expect(m.onEvent(1, 7, 'removed', 3)).toBeUndefined()
    expect(m.onEvent(2, 7, 'alive', 3)).toBeUndefined() // another observer never removed it
    expect(m.onEvent(1, 7, 'alive', 3)).toMatch(/after it was removed at 3/)
  })

  it('accepts a new life above the removed incarnation', () => {
    const m = new ResurrectionMonitor()
    m.onEvent(1, 7, 'removed', 3)
    expect(m.onEvent(1, 7, 'alive', 4)).toBeUndefined()
    expect(m.onEvent(1, 7, 'failed', 4)).toBeUndefined()
  })
})

describe('bounds', () => {
  it('follow the documented formulas', () => {
    const c = LOCAL_PROFILE
    // failureDetectionBoundMs(local, 10) = 300 × 9 + 300 + 4 × (4 × 1 × 300) = 7800
    expect(crashDetectBoundMs(c, 10)).toBe(7800 + c.syncIntervalMs)
    expect(agreementBoundMs(c, 10)).toBe(7800 + 3 * c.syncIntervalMs)
    expect(toleranceMs(c, 10)).toBe(4 * 300 - 2 * 300)
  })
})

/** A minimal summary for judging: a 60 s run, no faults, loss as given. */
function summary(faults: FaultRecord[], extra: Partial<SimSummary> = {}): SimSummary {
  return {
    seed: 1, options: { seed: 1, nodes: 10, seconds: 60, ...(extra.options ?? {}) }, command: '', profile: 'local', config: LOCAL_PROFILE, members: 10, endMs: 60_000,
    faults, detection: [], falseFailures: { count: 0, exempt: 0, list: [] }, falseSuspicions: { events: 0, distinct: 0 },
    agreement: { lastFaultEndMs: 0, agreedAtMs: 10, afterLastFaultMs: 10, atEnd: true },
    bounds: { toleranceMs: 600, crashDetectMs: 9800, agreementMs: 13_800 }, traffic: {} as SimSummary['traffic'], protocol: {}, events: {}, logs: {}, violations: [],
    run: {} as SimSummary['run'], ...extra,
  }
}
const crash = (allMs: number | null, atMs = 10_000): FaultRecord => ({ kind: 'crash', node: 'n1', atMs, endMs: atMs, detect: { firstMs: allMs === null ? null : 1, allMs } })

describe('evaluate', () => {
  it('passes a crash detected within the bound', () => {
    expect(evaluate(summary([crash(5000)]))).toEqual([])
  })

  it('flags a crash detected too late, or never', () => {
    expect(evaluate(summary([crash(12_000)])).map((v) => v.check)).toEqual([expect.stringMatching(/^liveness:crash-detected/)])
    expect(evaluate(summary([crash(null)])).map((v) => v.check)).toEqual([expect.stringMatching(/^liveness:crash-detected/)])
  })

  it('does not judge a crash the run ended too soon after', () => {
    expect(evaluate(summary([crash(null, 55_000)]))).toEqual([])
  })

  it('flags unforgiven false failures only up to the safe loss', () => {
    const ff = { count: 1, exempt: 1, list: [{ target: 'n2', by: 'n3', atMs: 5, incarnation: 1, rule: 'suspicion-timeout' }, { target: 'n4', by: 'n3', atMs: 5, incarnation: 1, rule: 'x', exempt: 'stalled 5000 ms' }] }
    expect(evaluate(summary([], { falseFailures: ff })).map((v) => v.check)).toEqual(['safety:false-failure'])
    expect(evaluate(summary([], { falseFailures: ff, options: { seed: 1, nodes: 10, seconds: 60, loss: 0.2 } }))).toEqual([])
  })

  it('flags agreement that never came', () => {
    const s = summary([], { agreement: { lastFaultEndMs: 20_000, agreedAtMs: null, afterLastFaultMs: null, atEnd: false } })
    expect(evaluate(s).map((v) => v.check)).toEqual(['liveness:agreement'])
  })
})

describe('the checks on real runs', () => {
  it('catch false failures when the protocol is configured to be fragile', () => {
    // No indirect probes and the shortest suspicion under 10% loss: live members get failed.
    const s = runSimulation({ seed: 1, nodes: 10, seconds: 20, loss: 0.1, config: { indirectChecks: 0, suspicionMult: 1, suspicionMaxMult: 1 } })
    expect(s.violations.some((v) => v.check === 'safety:false-failure')).toBe(true)
    expect(s.falseFailures.list[0]).toMatchObject({ rule: 'suspicion-timeout' })
  })

  it('forgive a stall beyond the tolerance but still require recovery', () => {
    const s = runSimulation({ seed: 2, nodes: 10, seconds: 30, stalls: [{ count: 1, ms: 5000 }] })
    const stall = s.faults.find((f) => f.kind === 'stall')!
    expect(stall.failedBy).toBeGreaterThan(0)
    expect(s.falseFailures.exempt).toBeGreaterThan(0)
    expect(s.falseFailures.count).toBe(0)
    expect(stall.recover?.allMs).not.toBeNull()
    expect(s.violations).toEqual([])
  })
})
