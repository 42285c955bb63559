// Loopback latency of the libp2p transport: `npx tsx core/libp2p/bench-main.ts [out.json]`.
// Prints a table and optionally writes JSON. A benchmark, not a test: numbers vary by machine.

import './polyfill.js'
import { writeFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLibp2pTransport, type SendFailure, type Transport } from './transport.js'
import type { Message } from '../protocol/types.js'

interface BenchNode {
  t: Transport
  onMessage: (from: string, msg: Message) => void
  onSendFailed: (to: string, reason: SendFailure) => void
}

async function benchNode(): Promise<BenchNode> {
  const n: BenchNode = { t: undefined as unknown as Transport, onMessage: () => {}, onSendFailed: () => {} }
  n.t = await createLibp2pTransport(
    { privateKey: await generateKeyPair('Ed25519'), group: 'bench', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false },
    {
      message: (from, msg) => n.onMessage(from, msg),
      sendFailed: (to, _msg, reason) => n.onSendFailed(to, reason),
      connected: () => {},
      disconnected: () => {},
      discovered: () => {},
      rejected: () => {},
    },
  )
  await n.t.start()
  return n
}

function summary(samplesMs: number[]): { n: number; p50: number; p95: number; max: number } {
  const s = [...samplesMs].sort((a, b) => a - b)
  const q = (f: number): number => Number(s[Math.min(s.length - 1, Math.floor(f * s.length))].toFixed(2))
  return { n: s.length, p50: q(0.5), p95: q(0.95), max: Number(s[s.length - 1].toFixed(2)) }
}

function answerAsMember(n: BenchNode): void {
  const relays = new Map<number, string>()
  n.onMessage = (from, msg) => {
    if (msg.type === 'ping') n.t.send(from, { type: 'ack', seq: msg.seq, digest: 'd0', incarnation: 1, status: 'alive' })
    if (msg.type === 'ping-req') {
      if (relays.size > 1000) relays.clear()
      relays.set(msg.seq, from)
      n.t.send(msg.target, { type: 'ping', seq: msg.seq, digest: 'd0' })
    }
    if (msg.type === 'ack' && relays.has(msg.seq)) n.t.send(relays.get(msg.seq)!, { type: 'indirect-ack', seq: msg.seq, target: from })
  }
}

async function roundTrip(a: BenchNode, send: () => void, done: (msg: Message) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const timer = setTimeout(() => reject(new Error('round trip timed out')), 5_000)
    a.onMessage = (_from, msg) => {
      if (done(msg)) {
        clearTimeout(timer)
        resolve(performance.now() - t0)
      }
    }
    send()
  })
}

async function main(): Promise<void> {
  const [a, b, c] = [await benchNode(), await benchNode(), await benchNode()]
  for (const x of [a, b, c]) for (const y of [a, b, c]) if (x !== y) x.t.addPeerAddrs(y.t.peerId, y.t.addrs())
  answerAsMember(b)
  answerAsMember(c)
  const results: Record<string, ReturnType<typeof summary>> = {}

  results['probe rtt, first (dial + noise + yamux)'] = summary([await roundTrip(a, () => a.t.send(b.t.peerId, { type: 'ping', seq: 0, digest: 'd0' }), (m) => m.type === 'ack')])
  const direct: number[] = []
  for (let i = 1; i <= 200; i++) direct.push(await roundTrip(a, () => a.t.send(b.t.peerId, { type: 'ping', seq: i, digest: 'd0' }), (m) => m.type === 'ack' && m.seq === i))
  results['probe rtt, connected'] = summary(direct)
  const indirect: number[] = []
  for (let i = 1; i <= 100; i++) {
    indirect.push(await roundTrip(a, () => a.t.send(b.t.peerId, { type: 'ping-req', seq: 1000 + i, target: c.t.peerId }), (m) => m.type === 'indirect-ack' && m.seq === 1000 + i))
  }
  results['indirect probe rtt (a→b→c→b→a)'] = summary(indirect)

  const hop: number[] = []
  for (let i = 0; i < 100; i++) {
    hop.push(await new Promise<number>((resolve) => {
      const t0 = performance.now()
      b.onMessage = (_f, m) => {
        if (m.type === 'update' && m.records[0].incarnation === i + 1) resolve(performance.now() - t0)
      }
      a.t.broadcast({ type: 'update', records: [{ id: a.t.peerId, incarnation: i + 1, status: 'alive', meta: { name: 'a', addrs: [], tags: {} } }] })
    }))
  }
  results['gossipsub one hop (a→b)'] = summary(hop)

  const cId = c.t.peerId
  await c.t.stop()
  await new Promise((r) => setTimeout(r, 100))
  const refused: number[] = []
  for (let i = 0; i < 50; i++) {
    refused.push(await new Promise<number>((resolve, reject) => {
      const t0 = performance.now()
      a.onSendFailed = (to, reason) => (to === cId && reason === 'refused' ? resolve(performance.now() - t0) : reject(new Error(`unexpected ${reason}`)))
      a.t.send(cId, { type: 'ping', seq: i, digest: 'd0' })
    }))
  }
  results['refused dial reported (stopped peer)'] = summary(refused)
  await Promise.all([a.t.stop(), b.t.stop()])

  console.log('loopback, ms'.padEnd(42) + 'n'.padStart(5) + 'p50'.padStart(9) + 'p95'.padStart(9) + 'max'.padStart(9))
  for (const [k, v] of Object.entries(results)) {
    console.log(k.padEnd(42) + String(v.n).padStart(5) + String(v.p50).padStart(9) + String(v.p95).padStart(9) + String(v.max).padStart(9))
  }
  if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify({ node: process.version, results }, null, 2))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
