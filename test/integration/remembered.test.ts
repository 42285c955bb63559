// A restarted node contacts the members it remembered (state.json) before any discovery: here with
// no mDNS and no bootstrap address at all, the only way back into the group.
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
