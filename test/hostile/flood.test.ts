// A hostile peer floods "X failed" claims for a live member X, each time at X's latest
// incarnation (it reads X's refutations off the topic). No honest node may ever hold X failed:
// a failed claim only opens a suspicion with a refutation window, and X refutes.
import fs from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { groupProtocols } from '../../core/libp2p/transport.js'
import { decodeMessage, encodeMessage } from '../../core/protocol/wire.js'
import { Fleet } from '../libp2p/helpers.js'
import { startGroup, statusOf, stopAll, tmpRoot, waitFor, type InProcessNode } from '../integration/cluster.js'

const root = tmpRoot()
const fleet = new Fleet()
let nodes: InProcessNode[] = []
afterAll(async () => {
  await fleet.stopAll()
  await stopAll(nodes)
  fs.rmSync(root, { recursive: true, force: true })
})

describe('flooded accusations', () => {
  it('cannot get a live member declared failed', async () => {
    // A 2 s refutation window keeps the test meaningful on a loaded 2-core CI machine.
    nodes = await startGroup(`${root}/flood`, 4, { strongSuspicionMs: 2000 })
    const target = nodes[1].node
    const targetId = target.id
    let inc = target.self().incarnation
    const failedSeen: string[] = []
    for (const n of nodes) n.node.on('member:failed', (ev) => { if (ev.id === targetId) failedSeen.push(n.name) })

    const P = groupProtocols('it')
    const attacker = await fleet.raw()
    for (const n of nodes) await attacker.dial(multiaddr(n.node.self().addrs[0]))
    attacker.services.pubsub.subscribe(P.topic)
    attacker.services.pubsub.addEventListener('message', (e) => {
      try {
        const m = decodeMessage(e.detail.data)
        if (m.type === 'update') for (const r of m.records) if (r.id === targetId && r.incarnation > inc) inc = r.incarnation
      } catch { /* not ours */ }
    })
    await waitFor('attacker meshed into the topic', () => attacker.services.pubsub.getSubscribers(P.topic).length >= 2)

    const claim = () => encodeMessage({ type: 'update', records: [{ id: targetId, incarnation: inc, status: 'failed', evidence: { rule: 'suspicion-timeout', observer: attacker.peerId.toString(), atMs: 0 } }] })
    let published = 0
    const endAt = Date.now() + 6000
    while (Date.now() < endAt) {
      try {
        await attacker.services.pubsub.publish(P.topic, claim())
        published++
      } catch { /* pruned or graylisted: fine */ }
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(published).toBeGreaterThan(50)
    // The target refuted (its incarnation rose), and nobody ever declared it failed.
    await waitFor('target alive everywhere', () => nodes.every((n) => n === nodes[1] || statusOf(n.node, targetId) === 'alive'), 20_000)
    expect(target.stats().protocol.refutations).toBeGreaterThan(0)
    expect(failedSeen).toEqual([])
  })
})
