// Real libp2p nodes on loopback: forming, crash, leave, restart, cut-off and rejoin.
import fs from 'node:fs'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startGroup, startNode, statusOf, stopAll, tmpRoot, waitFor, type InProcessNode } from './cluster.js'

const root = tmpRoot()
let nodes: InProcessNode[] = []

afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe('a group of real nodes on loopback', () => {
  it('forms: five nodes see each other alive and agree on the view digest', async () => {
    nodes = await startGroup(`${root}/form`, 5)
    await waitFor('digests agree', () => new Set(nodes.map((n) => n.node.digest())).size === 1)
    for (const n of nodes) expect(n.node.members().map((m) => m.name).sort()).toEqual(['n0', 'n1', 'n2', 'n3', 'n4'])
  })

  it('declares a node stopped without leaving failed at all others, with evidence', async () => {
    nodes = await startGroup(`${root}/crash`, 5)
    const victim = nodes[4]
    const id = victim.node.id
    await victim.node.stop()
    const others = nodes.slice(0, 4)
    await waitFor('all others hold the stopped node failed', () => others.every((o) => statusOf(o.node, id) === 'failed'))
    const ev = others[0].node.members().find((m) => m.id === id)!.evidence!
    expect(ev.rule === 'suspicion-timeout' || ev.rule === 'failed-gossip').toBe(true)
    // The stopped node's port is closed: a refused connection is the strong evidence.
    const strong = others.some((o) => o.node.members().find((m) => m.id === id)?.evidence?.strength === 'strong')
    expect(strong).toBe(true)
  })

  it('reports a leaving node as left at all others, never failed', async () => {
    nodes = await startGroup(`${root}/leave`, 5)
    const leaver = nodes[2]
    const id = leaver.node.id
    const seen: string[] = []
    for (const o of nodes) if (o !== leaver) o.node.on('*', (ev) => { if (ev.id === id) seen.push(ev.to as string) })
    await leaver.node.leave()
    await leaver.node.stop()
    const others = nodes.filter((n) => n !== leaver)
    await waitFor('all others hold it left', () => others.every((o) => statusOf(o.node, id) === 'left'))
    await new Promise((r) => setTimeout(r, 1500)) // long enough for a wrong suspicion to fire
    expect(seen).not.toContain('failed')
    expect(seen).not.toContain('suspect')
    for (const o of others) expect(statusOf(o.node, id)).toBe('left')
  })

  it('accepts a restarted node with the same data dir alive at a higher incarnation', async () => {
    const r = `${root}/restart`
    nodes = await startGroup(r, 4)
    const old = nodes[3]
    const id = old.node.id
    const inc = old.node.self().incarnation
    await old.node.stop()
    await waitFor('failed at others', () => nodes.slice(0, 3).every((o) => statusOf(o.node, id) === 'failed'))
    const again = await startNode(r, 'n3', nodes[0].node.self().addrs)
    nodes[3] = again
    await again.node.join()
    expect(again.node.id).toBe(id) // same identity from the data dir
    expect(again.node.self().incarnation).toBeGreaterThan(inc)
    await waitFor('alive again everywhere', () => nodes.slice(0, 3).every((o) => statusOf(o.node, id) === 'alive'))
    for (const o of nodes.slice(0, 3)) expect(o.node.members().find((m) => m.id === id)!.incarnation).toBe(again.node.self().incarnation)
  })

  it('keeps groups apart: a node of another group never becomes a member', async () => {
    nodes = await startGroup(`${root}/groups`, 3)
    const stranger = await startNode(`${root}/groups`, 'other', nodes[0].node.self().addrs, {}, 'other-group')
    nodes.push(stranger)
    await stranger.node.join()
    await new Promise((r) => setTimeout(r, 1500))
    for (const n of nodes.slice(0, 3)) expect(n.node.members().map((m) => m.name)).not.toContain('other')
    expect(stranger.node.members().map((m) => m.name)).toEqual(['other'])
  })
})

describe('agreement', () => {
  it('reports the digests members last sent, equal to ours once views converge', async () => {
    nodes = await startGroup(`${root}/agree`, 3)
    await waitFor('every node has heard every other node\'s current digest', () => nodes.every((n) => {
      const s = n.node.snapshot()
      const peers = Object.entries(s.peerDigests)
      return peers.length === 2 && peers.every(([, d]) => d === s.digest)
    }), 20_000)
  })
})
