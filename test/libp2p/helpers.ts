// Test helpers for real libp2p nodes on 127.0.0.1 (mDNS always off here).

import '../../core/libp2p/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createLibp2pTransport, type Transport, type TransportHandlers, type TransportOptions } from '../../core/libp2p/transport.js'
import type { Message } from '../../core/protocol/types.js'

export interface Recorded {
  messages: Array<{ from: string; msg: Message }>
  sendFailed: Array<{ to: string; msg: Message; reason: string; atMs: number }>
  connected: string[]
  disconnected: string[]
  discovered: string[]
  rejected: Array<{ from: string | undefined; protocol: string; reason: string }>
  logs: Array<{ level: string; msg: string; data?: Record<string, unknown> }>
}

export interface TestNode {
  t: Transport
  rec: Recorded
  /** Replace to react to messages (e.g. answer pings). */
  onMessage: (from: string, msg: Message) => void
}

export function recorder(): { rec: Recorded; handlers: TransportHandlers; node: { onMessage: (from: string, msg: Message) => void } } {
  const rec: Recorded = { messages: [], sendFailed: [], connected: [], disconnected: [], discovered: [], rejected: [], logs: [] }
  const node = { onMessage: (_from: string, _msg: Message) => {} }
  const handlers: TransportHandlers = {
    message: (from, msg) => {
      rec.messages.push({ from, msg })
      node.onMessage(from, msg)
    },
    sendFailed: (to, msg, reason) => rec.sendFailed.push({ to, msg, reason, atMs: performance.now() }),
    connected: (p) => rec.connected.push(p),
    disconnected: (p) => rec.disconnected.push(p),
    discovered: (p) => rec.discovered.push(p),
    rejected: (from, protocol, reason) => rec.rejected.push({ from, protocol, reason }),
    log: (level, msg, data) => rec.logs.push({ level, msg, data }),
  }
  return { rec, handlers, node }
}

/** Tracks everything started so afterEach can stop it all. */
export class Fleet {
  private readonly stops: Array<() => Promise<void>> = []

  async node(opts: Partial<TransportOptions> = {}): Promise<TestNode> {
    const { rec, handlers, node } = recorder()
    const t = await createLibp2pTransport(
      { privateKey: await generateKeyPair('Ed25519'), group: 'test', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, ...opts },
      handlers,
    )
    this.stops.push(() => t.stop())
    await t.start()
    const tn: TestNode = {
      t,
      rec,
      get onMessage() {
        return node.onMessage
      },
      set onMessage(fn) {
        node.onMessage = fn
      },
    }
    return tn
  }

  /** A bare libp2p node (no Rollcall transport) for sending hand-made bytes. */
  async raw(opts: { psk?: Uint8Array } = {}): Promise<Libp2p<{ identify: Identify; pubsub: GossipSub }>> {
    const node = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { inboundConnectionThreshold: 1000 },
      services: {
        identify: identify(),
        pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign', allowPublishToZeroTopicPeers: true, emitSelf: false, scoreParams: { IPColocationFactorWeight: 0 } }),
      },
    })
    this.stops.push(async () => {
      await node.stop()
    })
    return node
  }

  defer(fn: () => Promise<void> | void): void {
    this.stops.push(async () => {
      await fn()
    })
  }

  async stopAll(): Promise<void> {
    const all = this.stops.splice(0).reverse()
    await Promise.allSettled(all.map((s) => s()))
  }
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export function ping(seq: number): Message {
  return { type: 'ping', seq, digest: 'd0' }
}

/** Tell `a` where `b` is (as an alive record would). */
export function introduce(a: TestNode, b: TestNode): void {
  a.t.addPeerAddrs(b.t.peerId, b.t.addrs())
}
