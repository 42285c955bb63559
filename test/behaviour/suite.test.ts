// One behavioural suite, two transports: the same scenarios and the same assertions run against
// the deterministic simulator and against real libp2p nodes on loopback, so the simulator stays
// faithful to what the real node does (STYLE.md: "run the same behavioural suite against both").
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { crashDetectBoundMs } from '../../core/sim/checks.js'
import { runSimulation } from '../../core/sim/sim.js'
import { LOCAL_PROFILE } from '../../core/protocol/config.js'
import type { NodeEvent } from '../../core/node/node.js'
import { startGroup, startNode, stopAll, tmpRoot, waitFor, type InProcessNode } from '../integration/cluster.js'

type Kind = 'crash' | 'leave' | 'restart'
const NODES = 5

/** What a transport made of one injected fault, in the same terms for both. */
interface Outcome {
  /** ms from the fault until the first / every other member reflected it (null: never). */
  firstMs: number | null
  allMs: number | null
  /** Live members declared failed by anyone. */
  falseFailures: number
  /** Broken rules, in words (a leave seen as a failure, …). */
  violations: string[]
}

interface Driver {
  name: string
  run(kind: Kind): Promise<Outcome>
}

const simulator: Driver = {
  name: 'simulator',
  async run(kind) {
    const s = runSimulation({ seed: 11, nodes: NODES, seconds: 40, profile: 'local', [kind]: 1, faultWindow: [0.3, 0.35] })
    const f = s.faults.find((x) => x.kind === kind)!
    return {
      firstMs: f.detect.firstMs, allMs: f.detect.allMs,
      falseFailures: s.falseFailures.count - s.falseFailures.exempt,
      violations: s.violations.map((v) => `${v.check}: ${v.message}`),
    }
  },
}

const root = tmpRoot()
let live: InProcessNode[] = []
afterAll(async () => {
  await stopAll(live)
  fs.rmSync(root, { recursive: true, force: true })
})

const libp2p: Driver = {
  name: 'libp2p on loopback',
  async run(kind) {
    const dir = `${root}/${kind}`
    live = await startGroup(dir, NODES)
    const target = live[NODES - 1]
    const id = target.node.id
    const others = live.slice(0, NODES - 1)
    const want = kind === 'crash' ? 'failed' : kind === 'leave' ? 'left' : 'alive'
    const reflectedAt = new Map<string, number>()
    const events: { observer: string; ev: NodeEvent }[] = []
    let newIncarnation = Infinity
    for (const o of others) {
      o.node.on('*', (ev) => {
        events.push({ observer: o.name, ev })
        const ok = ev.id === id && ev.to === want && (kind !== 'restart' || ev.incarnation >= newIncarnation)
        if (ok && !reflectedAt.has(o.name)) reflectedAt.set(o.name, Date.now())
      })
    }
    const t0 = Date.now()
    if (kind === 'crash') await target.node.stop()
    if (kind === 'leave') {
      await target.node.leave()
      await target.node.stop()
    }
    if (kind === 'restart') {
      await target.node.stop()
      const again = await startNode(dir, target.name, live[0].node.self().addrs)
      live[NODES - 1] = again
      newIncarnation = again.node.self().incarnation
      await again.node.join()
    }
    const boundMs = crashDetectBoundMs(LOCAL_PROFILE, NODES)
    await waitFor('every other member reflects the fault', () => reflectedAt.size === others.length, 2 * boundMs).catch(() => {})
    await new Promise((r) => setTimeout(r, 1000)) // room for a wrong verdict to show up
    const times = [...reflectedAt.values()].map((t) => t - t0)
    const violations: string[] = []
    if (kind === 'leave' && events.some((e) => e.ev.id === id && (e.ev.to === 'failed'))) violations.push('safety:leave-as-failure: the leaver was declared failed')
    return {
      firstMs: times.length ? Math.min(...times) : null,
      allMs: times.length === others.length ? Math.max(...times) : null,
      falseFailures: events.filter((e) => e.ev.type === 'member:failed' && e.ev.id !== id).length,
      violations,
    }
  },
}

for (const driver of [simulator, libp2p]) {
  describe(`behaviour over ${driver.name}`, () => {
    afterAll(async () => {
      await stopAll(live)
      live = []
    })
    it.each<Kind>(['crash', 'leave', 'restart'])('%s: reflected by every member within the bound, no false failure', async (kind) => {
      const o = await driver.run(kind)
      await stopAll(live)
      live = []
      expect(o.violations).toEqual([])
      expect(o.falseFailures).toBe(0)
      expect(o.allMs).not.toBeNull()
      expect(o.allMs!).toBeLessThanOrEqual(crashDetectBoundMs(LOCAL_PROFILE, NODES))
      expect(o.firstMs!).toBeLessThanOrEqual(o.allMs!)
    })
  })
}
