import { describe, expect, it } from 'vitest'
import { runSimulation } from '../../core/sim/sim.js'
import { deterministicPart } from '../../core/sim/summary.js'
import type { SimOptions } from '../../core/sim/options.js'

// Everything random in a run comes from its seed (TigerBeetle's VOPR): the same seed must give
// the same summary, field for field (wall-clock time and heap aside).
const mixed = (seed: number): SimOptions => ({
  seed, nodes: 12, seconds: 30, loss: 0.05, dup: 0.02, crash: 1, crashSilent: 1, leave: 1, restart: 1, join: 2,
  stalls: [{ count: 1, ms: 3000 }], partitions: [{ kind: 'sym', forS: 2 }, { kind: 'asym', forS: 3 }],
})

describe('runSimulation', () => {
  it('gives an identical summary for the same seed', () => {
    const a = deterministicPart(runSimulation(mixed(1234)))
    const b = deterministicPart(runSimulation(mixed(1234)))
    expect(JSON.stringify(b)).toBe(JSON.stringify(a))
    expect(a.run.events).toBeGreaterThan(1000)
  })

  it('gives a different run for a different seed', () => {
    const a = deterministicPart(runSimulation(mixed(1234)))
    const c = deterministicPart(runSimulation(mixed(1235)))
    expect(JSON.stringify(c)).not.toBe(JSON.stringify(a))
    expect(c.faults.map((f) => f.atMs)).not.toEqual(a.faults.map((f) => f.atMs))
  })

  it('is deterministic for a preformed group too', () => {
    const o: SimOptions = { seed: 9, nodes: 40, seconds: 20, preformed: true, profile: 'lan', crash: 2, join: 1, loss: 0.02 }
    expect(JSON.stringify(deterministicPart(runSimulation(o)))).toBe(JSON.stringify(deterministicPart(runSimulation(o))))
  })
})
