// Hostile input against a live node: at least 10,000 random and mutated messages on every
// protocol (probe stream, sync stream, the gossipsub topic). The node must keep working: stay in
// the group, keep a view that agrees with its peers, and count what it rejected.
import fs from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import { afterAll, describe, expect, it } from 'vitest'
import { groupProtocols } from '../../core/libp2p/transport.js'
import { decodeMessage, encodeMessage, WireError } from '../../core/protocol/wire.js'
import type { Message, MemberRecord } from '../../core/protocol/types.js'
import { Fleet } from '../libp2p/helpers.js'
import { startGroup, statusOf, stopAll, tmpRoot, waitFor, type InProcessNode } from '../integration/cluster.js'
import { seqRandom } from '../protocol/harness.js'

const root = tmpRoot()
const fleet = new Fleet()
let nodes: InProcessNode[] = []
afterAll(async () => {
  await fleet.stopAll()
  await stopAll(nodes)
  fs.rmSync(root, { recursive: true, force: true })
})

const rnd = seqRandom(2024)
const int = (n: number) => Math.floor(rnd.next() * n)
const pick = <T>(a: T[]): T => a[int(a.length)]
const enc = new TextEncoder()

/** Valid-looking messages that are lies or nonsense about the real members. */
function templates(ids: string[]): Message[] {
  const [a, b] = ids
  const forged = (id: string, status: MemberRecord['status'], inc: number): MemberRecord => ({
    id, incarnation: inc, status, meta: { name: 'forged', addrs: [], tags: {} }, sig: 'AAAA',
  })
  return [
    { type: 'ping', seq: int(1e6), digest: 'x' },
    { type: 'ack', seq: int(1e6), digest: 'x', incarnation: 1, status: 'alive' },
    { type: 'ping-req', seq: int(1e6), target: b },
    { type: 'nack', seq: 1, target: a },
    { type: 'indirect-ack', seq: 1, target: a },
    { type: 'sync', digest: 'zz', reply: true },
    { type: 'sync', digest: 'zz', reply: false, records: [forged(a, 'left', 2 ** 40), forged(b, 'alive', 2 ** 40)] },
    { type: 'update', records: [forged(a, 'left', 10 ** 12)] },
    { type: 'update', records: [{ id: b, incarnation: 2 ** 47, status: 'failed' }] },
    { type: 'update', records: [forged('12D3KooWfake' + int(1e9), 'alive', 1)] },
  ]
}

function mutate(bytes: Uint8Array): Uint8Array {
  const b = Uint8Array.from(bytes)
  switch (int(7)) {
    case 0: // flip a few bytes
      for (let i = 0; i < 1 + int(4); i++) b[int(b.length)] = int(256)
      return b
    case 1: // truncate
      return b.subarray(0, int(b.length))
    case 2: // wrong version
      return enc.encode(new TextDecoder().decode(b).replace('"v":1', `"v":${pick([0, 2, -1, '"1"', null])}`))
    case 3: // random bytes
      return Uint8Array.from({ length: 1 + int(300) }, () => int(256))
    case 4: // hostile JSON shapes
      return enc.encode(pick([
        '{"v":1,"type":"ping","seq":-1,"digest":"x"}', '{"v":1,"type":"sync","digest":"a","reply":true,"records":' + '['.repeat(2000) + ']'.repeat(2000) + '}',
        '{"v":1,"type":"update","records":[]}', '[]', 'null', '{"v":1,"type":"__proto__"}', '{"v":1,"type":"ping","seq":1e400,"digest":"x"}',
        '{"v":1,"type":"update","records":[{"id":"x","incarnation":1,"status":"alive","meta":{"name":"n","addrs":[],"tags":{"k":"' + 'v'.repeat(600) + '"}}}]}',
      ]))
    case 5: // oversized
      return new Uint8Array(9000 + int(5000)).fill(0x7b)
    default: // duplicate a chunk
      return Uint8Array.from([...b, ...b.subarray(0, int(b.length))])
  }
}

describe('fuzz: a live node under hostile input', () => {
  it('rejects malformed input without ever throwing anything but WireError (pure codec, 50,000 inputs)', () => {
    const base = templates(['a', 'b']).map(encodeMessage)
    let rejected = 0
    for (let i = 0; i < 50_000; i++) {
      const bytes = mutate(pick(base))
      try {
        decodeMessage(bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(WireError)
        rejected++
      }
    }
    expect(rejected).toBeGreaterThan(40_000)
  })

  it('stays in the group with a correct view after 10,000 random and mutated messages', async () => {
    nodes = await startGroup(`${root}/fuzz`, 3)
    const victim = nodes[0].node
    const ids = nodes.map((n) => n.node.id)
    const P = groupProtocols('it')
    const attacker = await fleet.raw()
    const addr = multiaddr(victim.self().addrs[0])
    await attacker.dial(addr)
    attacker.services.pubsub.subscribe(P.topic)
    // Publish only once the attacker knows the victim is subscribed, or gossip goes nowhere.
    await waitFor('the attacker sees the victim on the topic', () =>
      attacker.services.pubsub.getSubscribers(P.topic).some((p) => p.toString() === victim.id), 20_000)
    const base = templates(ids).map(encodeMessage)
    const next = () => (rnd.next() < 0.25 ? pick(base) : mutate(pick(base)))
    let sent = 0
    let opened = 0
    const failures = new Map<string, number>()
    const deadline = Date.now() + 90_000
    // Streams: 7,000 messages, 16 at a time (below the per-peer stream cap).
    for (let batch = 0; batch < 7000 / 16 && Date.now() < deadline; batch++) {
      await Promise.all(Array.from({ length: 16 }, async () => {
        try {
          const s = await attacker.dialProtocol(addr, rnd.next() < 0.5 ? P.probe : P.sync, { signal: AbortSignal.timeout(5000) })
          opened++
          s.send(lp.encode.single(next()))
          await s.close()
        } catch (err) {
          // the victim may reset abusive streams: that is the point
          const key = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 120)
          if (failures.size < 20 || failures.has(key)) failures.set(key, (failures.get(key) ?? 0) + 1)
        }
        sent++
      }))
    }
    const afterStreams = victim.stats().rejected
    // Gossip: 3,000 publishes of mutated updates (the victim's validator rejects them; gossipsub
    // then scores the attacker down).
    for (let i = 0; i < 3000 && Date.now() < deadline; i++) {
      try {
        await attacker.services.pubsub.publish(P.topic, next())
      } catch {
        // publish errors (no peers after being pruned) are fine
      }
      sent++
    }
    const why = JSON.stringify({ opened, afterStreams, failures: Object.fromEntries(failures) })
    expect(sent).toBeGreaterThanOrEqual(10_000)
    // Most streams reach the victim (some are reset for exceeding the per-peer cap: that is fine).
    expect(opened, why).toBeGreaterThan(3500)
    await waitFor('the victim has counted the rejections', () => victim.stats().rejected > 1000, 10_000).catch(() => {})
    expect(victim.stats().rejected, why).toBeGreaterThan(1000)
    expect(victim.state).toBe('joined')
    // Still a correct view: everyone alive everywhere, the forged member absent, digests agree.
    await waitFor('views agree after the attack', () => {
      const ok = nodes.every((n) => ids.every((id) => statusOf(n.node, id) === 'alive'))
      return ok && new Set(nodes.map((n) => n.node.digest())).size === 1
    }, 30_000)
    expect(victim.members().map((m) => m.name)).not.toContain('forged')
    expect(victim.members()).toHaveLength(3)
  })
})
