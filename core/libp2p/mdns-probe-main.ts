// One Rollcall transport with mDNS on, for tests that run it inside a network namespace
// (`ip netns exec NS node --import tsx core/libp2p/mdns-probe-main.ts --group g --interface eth0`).
// Prints one JSON object per line on stdout (ready, discovered, connected, disconnected, log,
// stats when asked by a line "stats" on stdin) and stops cleanly when stdin closes or on SIGTERM.
// Never run it in the machine's own namespace.

import './polyfill.js'
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLibp2pTransport } from './transport.js'
import { MdnsDiscovery } from './mdns.js'
import { createEd25519Authenticator } from './identity.js'
import type { MemberRecord } from '../protocol/types.js'

const { values } = parseArgs({
  options: {
    group: { type: 'string' },
    interface: { type: 'string' },
    listen: { type: 'string', default: '/ip4/0.0.0.0/tcp/0' },
    'interval-ms': { type: 'string', default: '1000' },
    'multicast-answer-window-ms': { type: 'string' },
    'min-response-gap-ms': { type: 'string' },
    // Carry a signed alive record (incarnation 7) in announcements, as a node does; announce (and
    // send the start query) only on a line "announce" on stdin, as a node does at its join.
    record: { type: 'boolean', default: false },
  },
})

function out(event: string, data: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ event, atMs: Math.round(performance.now()), ...data }) + '\n')
}

async function main(): Promise<void> {
  if (values.group === undefined) throw new Error('--group is required')
  const ms = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a number of milliseconds ≥ 0, got "${v}"`)
    return n
  }
  const intervalMs = ms('interval-ms', values['interval-ms'])
  const multicastAnswerWindowMs = ms('multicast-answer-window-ms', values['multicast-answer-window-ms'])
  const minResponseGapMs = ms('min-response-gap-ms', values['min-response-gap-ms'])
  // Discovery only reports a peer; like the protocol, this probe then contacts it (a ping), which
  // dials the address mDNS announced. Set once the transport exists.
  let onDiscovered = (_peer: string): void => {}
  let seq = 0
  const privateKey = await generateKeyPair('Ed25519')
  const selfId = peerIdFromPrivateKey(privateKey).toString()
  const auth = createEd25519Authenticator(selfId, privateKey)
  let selfRecord: MemberRecord | undefined
  const transport = await createLibp2pTransport(
    {
      privateKey,
      group: values.group,
      listen: [values.listen],
      bootstrap: [],
      mdns: {
        interface: values.interface === '' ? undefined : values.interface,
        intervalMs,
        multicastAnswerWindowMs,
        minResponseGapMs,
      },
    },
    {
      message: (from, msg) => out('message', { from, type: msg.type }),
      sendFailed: (to, msg, reason) => out('sendFailed', { to, type: msg.type, reason }),
      connected: (peer) => out('connected', { peer }),
      disconnected: (peer) => out('disconnected', { peer }),
      discovered: (peer) => {
        out('discovered', { peer })
        onDiscovered(peer)
      },
      rejected: (from, protocol, reason) => out('rejected', { from, protocol, reason }),
      log: (level, msg, data) => out('log', { level, msg, data }),
      ...(values.record
        ? {
            announced: (rec: MemberRecord) => out('announced', { peer: rec.id, incarnation: rec.incarnation, name: rec.meta?.name, verified: auth.verify(rec) }),
            selfRecord: () => selfRecord,
          }
        : {}),
    },
  )
  onDiscovered = (peer) => transport.send(peer, { type: 'ping', seq: ++seq, digest: '' })
  await transport.start()
  if (values.record) {
    const rec: MemberRecord = { id: selfId, incarnation: 7, status: 'alive', meta: { name: 'probe', addrs: transport.addrs(), tags: {} } }
    rec.sig = auth.sign(rec)
    selfRecord = rec
  }
  // What mDNS announces, computed the same way the running discovery does (construction opens no socket).
  const view = new MdnsDiscovery({ group: values.group, peerId: transport.peerId, getAddrs: () => transport.addrs(), interface: values.interface === '' ? undefined : values.interface, onPeer: () => {} })
  out('ready', { peerId: transport.peerId, addrs: transport.addrs(), announced: view.announcedAddrs(), service: view.serviceName })

  let stopping = false
  const stop = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    await transport.stop()
    out('stopped', { stats: transport.stats() })
    process.exit(0)
  }
  // A line "stats" on stdin prints the transport's counters; end of stdin stops.
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'stats') out('stats', { stats: transport.stats() })
    if (line.trim() === 'announce') transport.announceSelf()
  })
  process.stdin.on('end', () => void stop())
  process.stdin.on('close', () => void stop())
  process.on('SIGTERM', () => void stop())
}

main().catch((err: Error) => {
  out('error', { error: err.message })
  process.exit(1)
})
