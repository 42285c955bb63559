// Real libp2p nodes on loopback: forming, crash, leave, restart, cut-off and rejoin.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { MAX_REMEMBERED_PEERS, readState, rememberedPeers, writeState } from '../../core/node/datadir.js'
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

// A restarted node contacts the members it remembered (state.json) before any discovery: here with
// no mDNS and no bootstrap address at all, the only way back into the group.
const savedPeers = (n: InProcessNode) => rememberedPeers(readState(n.dataDir)?.peers)

describe('members remembered across a restart', () => {
  it('saves alive members with their addrs, and a restart with no bootstrap and no mDNS finds the group again', async () => {
    nodes = await startGroup(`${root}/back`, 3)
    const [a, b, victim] = nodes
    await waitFor('the victim saves the other two', () => savedPeers(victim).length === 2, 10_000)
    const saved = savedPeers(victim)
    expect(saved.map((p) => p.id).sort()).toEqual([a.node.id, b.node.id].sort())
    for (const p of saved) expect(p.addrs).toEqual(nodes.find((n) => n.node.id === p.id)!.node.self().addrs)
    expect(readState(victim.dataDir)!.incarnation).toBe(victim.node.self().incarnation)

    const id = victim.node.id
    await victim.node.stop()
    await waitFor('the others hold it failed', () => [a, b].every((o) => statusOf(o.node, id) === 'failed'), 20_000)
    // Same data dir, a new port, nothing to bootstrap from, no mDNS (startNode).
    const back = await startNode(`${root}/back`, victim.name, [])
    nodes[2] = back
    await back.node.join()
    await waitFor('everyone sees the restarted node alive', () => [a, b, back].every((o) => statusOf(o.node, id) === 'alive'), 20_000)
    expect(back.node.reachable().length).toBe(3)
  })

  it('ignores remembered entries that are malformed, its own id, or beyond the limit, and runs alone without them', async () => {
    const dir = path.join(root, 'bad', 'solo')
    fs.mkdirSync(dir, { recursive: true })
    const junk = [
      null, 'x', { id: '', addrs: ['/ip4/127.0.0.1/tcp/1'] }, { id: 'not-a-peer-id', addrs: ['/ip4/127.0.0.1/tcp/1'] },
      { id: '12D3KooWLigNtp43TkiZVZqbSN7UfShBdWfUYsxDfRUcs7QEpLTE', addrs: 'garbage' },
      { id: '12D3KooWLigNtp43TkiZVZqbSN7UfShBdWfUYsxDfRUcs7QEpLTE', addrs: ['x'.repeat(10_000)] },
    ]
    writeState(dir, { incarnation: 5, peers: junk })
    const n = await startNode(path.join(root, 'bad'), 'solo', [], { joinRetryMs: 100 })
    nodes = [n]
    await n.node.join()
    expect(n.node.members().map((m) => m.name)).toEqual(['solo'])
    expect(readState(dir)!.incarnation).toBeGreaterThan(5)
  })
})

describe('rememberedPeers', () => {
  it('keeps well-formed entries only, once each, at most MAX_REMEMBERED_PEERS, never our own id', () => {
    const ok = (i: number) => ({ id: `peer${i}`, addrs: [`/ip4/10.0.0.${i}/tcp/4001`] })
    expect(rememberedPeers(undefined)).toEqual([])
    expect(rememberedPeers({ id: 'x' })).toEqual([])
    expect(rememberedPeers([ok(1), ok(1), { id: 'self', addrs: ['/ip4/1.2.3.4/tcp/1'] }, { id: 'p', addrs: [] }, { id: 'q', addrs: [7, ''] }], 'self')).toEqual([ok(1)])
    expect(rememberedPeers(Array.from({ length: 20 }, (_, i) => ok(i)))).toHaveLength(MAX_REMEMBERED_PEERS)
    const many = { id: 'm', addrs: Array.from({ length: 40 }, (_, i) => `/ip4/10.0.1.${i}/tcp/1`) }
    expect(rememberedPeers([many])[0].addrs.length).toBeLessThanOrEqual(16)
  })
})
