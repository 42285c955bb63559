// The libp2p adapter: carries protocol messages between nodes and reports what happened to
// the shell through a few callbacks. The caller never sees libp2p (js-libp2p's own services use
// the same "factory + narrow components" shape, see packages/protocol-ping).
//
// Unicast: probe messages (ping, ack, ping-req, indirect-ack, nack) travel on one long-lived
// stream per peer and direction (a probe channel), length-prefixed, a ping's ack on the ping's own
// channel; a sync is one message per stream, written then closed. Broadcast: gossipsub on the
// group's topic. Both carry the group in their ids, so
// nodes of different groups never exchange messages even when connected.

import './polyfill.js'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, TopicValidatorResult, type GossipSub, type Message as GossipMessage } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { decodeMessage, encodeMessage, maxBytesFor, MAX_MESSAGE_BYTES, MAX_PROBE_MESSAGE_BYTES, MAX_UPDATE_BYTES, WireError } from '../protocol/wire.js'
import { LIMITS } from '../protocol/config.js'
import type { MemberRecord, Message, UpdateMessage } from '../protocol/types.js'
import { MdnsDiscovery, resolveInterface, type MdnsStats } from './mdns.js'
import { coalescing, lazyWindowUpdates } from './coalesce.js'
import { x25519Crypto } from './x25519.js'

export type SendFailure = 'refused' | 'unreachable' | 'timeout'

export interface TransportHandlers {
  /** A validated message from peer `from` (the stream's remote peer, or the gossipsub message author). */
  message(from: string, msg: Message): void
  sendFailed(to: string, msg: Message, reason: SendFailure): void
  /** A peer that speaks this group's protocols connected (reported once identify confirms it). */
  connected(peer: string): void
  disconnected(peer: string): void
  /** mDNS found a peer of this group, or a peer subscribed to the group's topic. */
  discovered(peer: string): void
  /**
   * A peer's own alive record, heard in its mDNS announcement (reported before `discovered`).
   * Shape-checked and naming that peer; its signature is the protocol's to check.
   */
  announced?(rec: MemberRecord): void
  /** Our own signed alive record, for our mDNS announcements (absent: they carry none). */
  selfRecord?(): MemberRecord | undefined
  /** Bad input; the caller counts it. */
  rejected(from: string | undefined, protocol: string, reason: string): void
  /** Optional operator log (transport warnings such as a failed publish). */
  log?(level: 'info' | 'warn', msg: string, data?: Record<string, unknown>): void
}

export interface TransportStats {
  sent: number
  received: number
  bytesSent: number
  bytesReceived: number
  rejected: number
  /** Inbound streams that failed for non-input reasons (reset, timed out, connection closed). */
  streamErrors: number
  /** Outbound probe channels opened (one per peer while it stays up; see PROBE_CHANNEL_IDLE_MS). */
  probeChannelsOpened: number
  /** Connections found dead when a stream was opened on them, and replaced by a fresh dial. */
  redials: number
  /** Discovery packets, when mDNS is on. */
  mdns?: MdnsStats
}

/** start() and stop() each run once; a stopped transport is not restarted (create a new one). */
export interface Transport {
  readonly peerId: string
  start(): Promise<void>
  stop(): Promise<void>
  /** Our listen multiaddrs with /p2p/<id>, excluding unspecified (0.0.0.0 / ::) addresses. */
  addrs(): string[]
  /** Fire-and-forget; failures come back through handlers.sendFailed, never thrown. */
  send(to: string, msg: Message): void
  /** Gossipsub publish; never throws (failures are logged and counted). */
  broadcast(msg: UpdateMessage): void
  /** Announce our records, with our own alive record (handlers.selfRecord), on the segment by mDNS; no-op without mDNS. */
  announceSelf(): void
  /**
   * Where a member can be dialed (from its signed alive record): replaces the addrs libp2p holds
   * for it, so stale addrs from an old incarnation are not dialed first. Invalid ones are ignored.
   * Returns whether the peer id and at least one addr were valid (so the peer can be dialed).
   */
  addPeerAddrs(peer: string, addrs: string[]): boolean
  closeConnections(peer: string): Promise<void>
  stats(): TransportStats
}

export interface TransportOptions {
  privateKey: PrivateKey
  group: string
  /** Default ['/ip4/0.0.0.0/tcp/0']. */
  listen?: string[]
  /** Multiaddrs to dial at start (with or without /p2p/<id>); redialed while we have no group peer. */
  bootstrap?: string[]
  mdns?: false | { interface?: string; intervalMs?: number; multicastAnswerWindowMs?: number; minResponseGapMs?: number }
  /** Contents of a libp2p pnet swarm key file: only nodes holding the same key can connect. */
  groupKey?: Uint8Array
  /** Budget for one probe-class stream (dial + open + write, or read on the receiving side). */
  probeTimeoutMs?: number
  /** Budget for one sync/update stream; larger because a full-state sync can be megabytes. */
  syncTimeoutMs?: number
  /** While no group peer is connected, redial the bootstrap list this often. */
  bootstrapRetryMs?: number
  maxConnections?: number
  /** Connections per second accepted from one remote host (libp2p default 5; tests put many nodes on 127.0.0.1). */
  inboundConnectionThreshold?: number
}

export class TransportConfigError extends Error {
  override name = 'TransportConfigError'
}

/** Generous against a 400 ms protocol probe timeout: the stream budget only frees stuck streams. */
export const DEFAULT_PROBE_TIMEOUT_MS = 2_000
/** 4 MiB sync at LAN speed is well under a second; 10 s covers a loaded machine. */
export const DEFAULT_SYNC_TIMEOUT_MS = 10_000
export const DEFAULT_BOOTSTRAP_RETRY_MS = 5_000
/** A lab group is tens to hundreds of machines; above libp2p's default 300 with room to spare. */
export const DEFAULT_MAX_CONNECTIONS = 600
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 500
/** Inbound streams open at once per peer on our protocols; more are reset (a slow-loris guard). */
export const MAX_INBOUND_STREAMS_PER_PEER = 32
/**
 * Budget of one connection dial (TCP, Noise, Yamux), shared by every send that needs it meanwhile.
 * libp2p's own default; above any one send's budget so a handshake slowed by load is not abandoned.
 */
export const CONNECT_TIMEOUT_MS = 10_000
/** Outbound sends in flight at once; more are dropped with a log (the protocol sees a missing ack). */
export const MAX_PENDING_SENDS = 1024
/**
 * A probe channel that carried nothing for this long is closed (a new one opens on the next
 * probe). Above the longest gap between two probes of one pair in a group of 50 (about 2 × N probe
 * periods), and below libp2p's 2-minute TCP inactivity timeout.
 */
export const PROBE_CHANNEL_IDLE_MS = 110_000
/** Outbound probe channels kept open at once; the oldest is closed beyond this. */
const MAX_PROBE_CHANNELS = 1024
/** Bootstrap entries honoured; the rest are ignored. */
const MAX_BOOTSTRAP = 64
/** Peers whose last-set addrs we remember (to skip redundant peer-store writes). */
const MAX_REMEMBERED_ADDRS = LIMITS.maxMembers
/** Longest group name: it is part of protocol ids, the topic and the mDNS service name. */
export const MAX_GROUP_CHARS = 64

export interface GroupProtocols {
  probe: string
  sync: string
  topic: string
}

/** Protocol ids and topic of a group. The group is URI-encoded so any name yields well-formed ids. */
export function groupProtocols(group: string): GroupProtocols {
  const g = encodeURIComponent(group)
  return { probe: `/rollcall/${g}/probe/1.0.0`, sync: `/rollcall/${g}/sync/1.0.0`, topic: `/rollcall/${g}/updates/1` }
}

const PROBE_TYPES: ReadonlySet<Message['type']> = new Set(['ping', 'ack', 'ping-req', 'indirect-ack', 'nack'])
const SYNC_TYPES: ReadonlySet<Message['type']> = new Set(['sync', 'update'])

/** The promise's outcome, or the signal's reason if it aborts first (the promise runs on). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v) },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e) },
    )
  })
}

/** Map a dial error to the protocol's evidence: refused only when every underlying attempt was ECONNREFUSED. */
export function classifyDialError(err: unknown, timedOut: boolean): SendFailure {
  if (timedOut) return 'timeout'
  const leaves = leafErrors(err)
  if (leaves.length > 0 && leaves.every((e) => e.code === 'ECONNREFUSED')) return 'refused'
  if (leaves.some((e) => e.name === 'TimeoutError' || e.code === 'ETIMEDOUT')) return 'timeout'
  return 'unreachable'
}

interface ErrLike {
  name?: string
  code?: string
  message?: string
  errors?: unknown[]
  cause?: unknown
}

function leafErrors(err: unknown, depth = 0, out: ErrLike[] = []): ErrLike[] {
  if (out.length >= 64 || depth > 8 || typeof err !== 'object' || err === null) return out
  const e = err as ErrLike
  if (Array.isArray(e.errors) && e.errors.length > 0) {
    for (const sub of e.errors) leafErrors(sub, depth + 1, out)
  } else if (e.cause !== undefined && e.cause !== null && typeof e.cause === 'object') {
    leafErrors(e.cause, depth + 1, out)
  } else {
    out.push(e)
  }
  return out
}

type Services = { identify: Identify; pubsub: GossipSub }

export async function createLibp2pTransport(options: TransportOptions, handlers: TransportHandlers): Promise<Transport> {
  const group = options.group
  if (typeof group !== 'string' || group.length === 0 || group.length > MAX_GROUP_CHARS) {
    throw new TransportConfigError(`group must be a string of 1..${MAX_GROUP_CHARS} characters`)
  }
  const listen = options.listen ?? ['/ip4/0.0.0.0/tcp/0']
  for (const a of listen) {
    try {
      multiaddr(a)
    } catch {
      throw new TransportConfigError(`invalid listen multiaddr: ${a}`)
    }
  }
  const bootstrap: Multiaddr[] = []
  for (const a of (options.bootstrap ?? []).slice(0, MAX_BOOTSTRAP)) {
    try {
      bootstrap.push(multiaddr(a))
    } catch {
      throw new TransportConfigError(`invalid bootstrap multiaddr: ${a}`)
    }
  }
  if (options.groupKey !== undefined && options.groupKey.byteLength === 0) throw new TransportConfigError('groupKey is empty')
  // Fail before anything starts: an unknown NIC is a configuration error (MdnsInterfaceError lists the NICs).
  if (options.mdns && options.mdns.interface !== undefined) resolveInterface(options.mdns.interface)

  const protocols = groupProtocols(group)
  const probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS
  const syncTimeoutMs = options.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS

  let node: Libp2p<Services>
  try {
    node = await createLibp2p<Services>({
      privateKey: options.privateKey,
      start: false,
      addresses: { listen },
      transports: [coalescing(tcp())],
      // Noise's default crypto, with X25519 keys not re-parsed for every Diffie-Hellman (x25519.ts).
      connectionEncrypters: [noise({ crypto: x25519Crypto })],
      // No yamux keep-alive pings: they went every 30 s on every connection (at N = 40, 39 pings
      // and 39 pongs per 30 s each way, about 40 % of an idle agent's bytes on the wire). Our probes
      // are the liveness check, and the node closes connections to members declared failed.
      streamMuxers: [yamux({ enableKeepAlive: false })],
      ...(options.groupKey !== undefined ? { connectionProtector: preSharedKey({ psk: options.groupKey }) } : {}),
      connectionManager: {
        maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        inboundConnectionThreshold: options.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD,
        maxIncomingPendingConnections: 64,
      },
      // Rollcall's own probes are the liveness check; libp2p's monitor would ping every connection
      // every 10 s on extra streams (measured: about as much CPU as our probes in a group of 20).
      // The node closes connections to members the protocol declares failed instead.
      connectionMonitor: { enabled: false },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          // Drop copies of a message we already have before checking its signature (see fastMessageId).
          fastMsgIdFn: fastMessageId,
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          fallbackToFloodsub: false,
          // Default IP-colocation scoring graylists >10 peers on one IP (STACK-NOTES: 0 of 1,140 delivered).
          scoreParams: { IPColocationFactorWeight: 0 },
        }),
      },
    })
  } catch (err) {
    // pnet rejects a malformed swarm key here
    throw new TransportConfigError(`cannot create libp2p node: ${(err as Error).message}`)
  }

  return new Libp2pTransport(node, options, handlers, protocols, bootstrap, probeTimeoutMs, syncTimeoutMs)
}

/**
 * The key gossipsub dedupes on before it verifies a message's signature: its author and sequence
 * number, the same two fields a StrictSign message id is made of, so it drops exactly the copies it
 * would drop after verifying. Without it every copy (each member receives most messages from
 * several mesh peers) had its Ed25519 signature checked before being found a duplicate. CPU
 * profiles of 4 of 40 agents forming on one 2-core machine: gossipsub's signature checks took 9.1 %
 * of the sampled time, 3.1 % with this key. A forged copy is still verified (it carries another
 * author or sequence number) or dropped unread as a duplicate of a message already verified: the
 * key is cached only after a copy passed verification. The cache expires with gossipsub's seen
 * cache (seenTTL), pruned every heartbeat.
 */
export function fastMessageId(msg: { from?: Uint8Array; seqno?: Uint8Array }): string {
  if (msg.from === undefined || msg.seqno === undefined) return '' // unsigned: fails validation, never cached
  return `${Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')}.${Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('base64')}`
}

class Libp2pTransport implements Transport {
  readonly peerId: string
  /** Open inbound ping streams awaiting the protocol's ack, by `${peer}:${seq}` (bounded by the per-peer stream cap). */
  private readonly replies = new Map<string, (ack: Message) => void>()
  /** Our outbound probe channel per peer: open, or being opened (every caller awaits the same dial). */
  private readonly channels = new Map<string, { stream?: Stream; opening?: Promise<Stream> }>()
  private readonly counters: TransportStats = { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, rejected: 0, streamErrors: 0, probeChannelsOpened: 0, redials: 0 }
  private started = false
  private stopped = false
  /** Peers reported as connected (they speak our group's protocols). Bounded by open connections. */
  private readonly groupPeers = new Set<string>()
  /** Inbound streams open per peer. Entries exist only while streams are open. */
  private readonly inboundStreams = new Map<string, number>()
  private pendingSends = 0
  /** Last addrs written to the peer store per member, to skip identical rewrites on every alive record. */
  private readonly lastAddrs = new Map<string, string>()
  /** Updates decoded by the topic validator, handed to the message listener without decoding twice. */
  private readonly validated = new WeakMap<GossipMessage, UpdateMessage>()
  private bootstrapTimer: ReturnType<typeof setInterval> | undefined
  private topologyId: string | undefined
  private mdns: MdnsDiscovery | undefined

  constructor(
    private readonly node: Libp2p<Services>,
    private readonly options: TransportOptions,
    private readonly handlers: TransportHandlers,
    private readonly protocols: GroupProtocols,
    private readonly bootstrap: Multiaddr[],
    private readonly probeTimeoutMs: number,
    private readonly syncTimeoutMs: number,
  ) {
    this.peerId = node.peerId.toString()
  }

  // -------------------------------------------------------------------------------------------
  // lifecycle

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    try {
      await this.startInner()
    } catch (err) {
      // leave nothing listening behind a failed start
      await this.stop().catch(() => undefined)
      throw err
    }
  }

  private async startInner(): Promise<void> {
    const node = this.node
    await node.start()

    const streamOpts = { maxInboundStreams: MAX_INBOUND_STREAMS_PER_PEER, maxOutboundStreams: MAX_INBOUND_STREAMS_PER_PEER }
    await node.handle(this.protocols.probe, (stream, conn) => this.onProbeChannel(stream, conn), streamOpts)
    await node.handle(this.protocols.sync, (stream, conn) => this.onInbound(this.protocols.sync, SYNC_TYPES, MAX_MESSAGE_BYTES, this.syncTimeoutMs, stream, conn), streamOpts)

    // Topology: libp2p tells us once identify shows the peer speaks our group's sync protocol,
    // so peers of other groups (or plain libp2p nodes) are never reported as connected.
    this.topologyId = await node.register(this.protocols.sync, {
      onConnect: (peerId) => this.markConnected(peerId.toString()),
    })
    node.addEventListener('peer:disconnect', (evt) => {
      const peer = evt.detail.toString()
      if (this.groupPeers.delete(peer) && !this.stopped) this.safe(() => this.handlers.disconnected(peer))
    })

    const pubsub = node.services.pubsub
    pubsub.topicValidators.set(this.protocols.topic, (_propagationSource, msg) => this.validateUpdate(msg))
    pubsub.addEventListener('message', (evt) => this.onGossip(evt.detail))
    pubsub.addEventListener('subscription-change', (evt) => {
      const peer = evt.detail.peerId.toString()
      if (evt.detail.subscriptions.some((s) => s.subscribe && s.topic === this.protocols.topic)) {
        this.safe(() => this.handlers.discovered(peer))
      }
    })
    pubsub.subscribe(this.protocols.topic)

    if (this.options.mdns) {
      this.mdns = new MdnsDiscovery({
        group: this.options.group,
        peerId: this.peerId,
        getAddrs: () => this.addrs(),
        interface: this.options.mdns.interface,
        intervalMs: this.options.mdns.intervalMs,
        multicastAnswerWindowMs: this.options.mdns.multicastAnswerWindowMs,
        minResponseGapMs: this.options.mdns.minResponseGapMs,
        connectedPeers: () => this.groupPeers.size,
        onPeer: (peer) => this.onMdnsPeer(peer.id, peer.addrs, peer.record),
        groupKey: this.options.groupKey,
        // A node announces (and asks) when it joins, with its record: see announceSelf.
        ...(this.handlers.selfRecord !== undefined ? { selfRecord: () => this.handlers.selfRecord?.(), announceOnStart: false } : {}),
        log: (level, msg, data) => this.log(level, msg, data),
      })
      await this.mdns.start()
    }

    if (this.bootstrap.length > 0) {
      this.dialBootstrap()
      this.bootstrapTimer = setInterval(() => {
        if (this.groupPeers.size === 0) this.dialBootstrap()
      }, this.options.bootstrapRetryMs ?? DEFAULT_BOOTSTRAP_RETRY_MS)
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.bootstrapTimer)
    await this.mdns?.stop().catch(() => undefined)
    if (this.topologyId !== undefined) this.node.unregister(this.topologyId)
    if (this.started) await this.node.stop()
    this.groupPeers.clear()
    this.channels.clear()
  }

  addrs(): string[] {
    return this.node
      .getMultiaddrs()
      .filter((ma) => {
        const ip = ma.getComponents()[0]?.value
        return ip !== '0.0.0.0' && ip !== '::'
      })
      .map((ma) => ma.toString())
  }

  stats(): TransportStats {
    return this.mdns !== undefined ? { ...this.counters, mdns: this.mdns.stats() } : { ...this.counters }
  }

  // -------------------------------------------------------------------------------------------
  // unicast out

  send(to: string, msg: Message): void {
    if (this.stopped || !this.started) return
    if (msg.type === 'ack') {
      // Answer on the ping's own stream when it is still open: half the stream setups per probe.
      const key = `${to}:${msg.seq}`
      const reply = this.replies.get(key)
      if (reply) {
        this.replies.delete(key)
        reply(msg)
        return
      }
    }
    if (this.pendingSends >= MAX_PENDING_SENDS) {
      this.log('warn', 'send dropped: too many sends in flight', { to, type: msg.type, limit: MAX_PENDING_SENDS })
      return
    }
    this.pendingSends++
    this.sendNow(to, msg)
      .catch((err) => this.log('warn', 'send failed unexpectedly', { to, type: msg.type, error: String(err) }))
      .finally(() => this.pendingSends--)
  }

  private async sendNow(to: string, msg: Message): Promise<void> {
    const isProbe = PROBE_TYPES.has(msg.type)
    const protocol = isProbe ? this.protocols.probe : this.protocols.sync
    const timeoutMs = isProbe ? this.probeTimeoutMs : this.syncTimeoutMs
    const bytes = encodeMessage(msg)
    if (bytes.byteLength > maxBytesFor(msg.type)) {
      // A protocol bug, not a network fact: do not report it as evidence against the peer.
      this.log('warn', 'send dropped: message over its size limit', { to, type: msg.type, bytes: bytes.byteLength, limit: maxBytesFor(msg.type) })
      return
    }
    let peerId: PeerId
    try {
      peerId = peerIdFromString(to)
    } catch {
      this.log('warn', 'send dropped: not a peer id', { to })
      return
    }
    if (to === this.peerId) {
      this.log('warn', 'send dropped: addressed to self', { type: msg.type })
      return
    }

    const frame = lp.encode.single(bytes)
    if (isProbe) return this.sendOnChannel(to, peerId, msg, frame, timeoutMs)

    const signal = AbortSignal.timeout(timeoutMs)
    let stream: Stream
    try {
      stream = await this.openStream(peerId, protocol, signal)
    } catch (err) {
      return this.dialFailed(to, msg, err, signal)
    }
    try {
      if (!stream.send(frame)) await stream.onDrain({ signal })
      await stream.close({ signal })
      this.counters.sent++
      this.counters.bytesSent += frame.byteLength
    } catch (err) {
      stream.abort(err as Error)
      this.log('info', 'stream write failed', { to, type: msg.type, error: describeError(err) })
      this.reportSendFailed(to, msg, signal.aborted ? 'timeout' : 'unreachable')
      return
    }
    // The remote closes its end after reading; free the stream if it never does.
    this.abortIfOpenAfter(stream, timeoutMs)
  }

  /**
   * A probe message on our long-lived channel to the peer. Measured in the fault lab: a stream per
   * probe cost 13 TCP segments per ping and ack (open, protocol negotiation, data, two closes); on
   * a channel it is the ping, the ack and at most a delayed TCP ACK. A channel found dead (the
   * connection closed under it) is replaced once; a dial failure is the same evidence as before.
   */
  private async sendOnChannel(to: string, peerId: PeerId, msg: Message, frame: ReturnType<typeof lp.encode.single>, timeoutMs: number): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs)
    for (let attempt = 0; ; attempt++) {
      let stream: Stream
      try {
        stream = await this.channelTo(to, peerId, signal)
      } catch (err) {
        return this.dialFailed(to, msg, err, signal)
      }
      try {
        if (!stream.send(frame)) await stream.onDrain({ signal })
        this.counters.sent++
        this.counters.bytesSent += frame.byteLength
        return
      } catch (err) {
        this.dropChannel(to, stream, err)
        if (attempt >= 1 || signal.aborted || this.stopped) {
          this.log('info', 'stream write failed', { to, type: msg.type, error: describeError(err) })
          this.reportSendFailed(to, msg, signal.aborted ? 'timeout' : 'unreachable')
          return
        }
      }
    }
  }

  private channelTo(to: string, peerId: PeerId, signal: AbortSignal): Promise<Stream> {
    const ch = this.channels.get(to)
    if (ch?.stream !== undefined) {
      if (ch.stream.status === 'open' && ch.stream.writeStatus === 'writable') return Promise.resolve(ch.stream)
      this.dropChannel(to, ch.stream)
    } else if (ch?.opening !== undefined) {
      return ch.opening
    }
    if (this.channels.size >= MAX_PROBE_CHANNELS) {
      const [oldest, entry] = this.channels.entries().next().value!
      this.channels.delete(oldest)
      entry.stream?.close().catch((err: Error) => entry.stream?.abort(err))
    }
    const opening = this.openStream(peerId, this.protocols.probe, signal).then((stream) => {
      if (this.channels.get(to)?.opening === opening) this.channels.set(to, { stream })
      this.counters.probeChannelsOpened++
      lazyWindowUpdates(stream)
      stream.maxReadBufferLength = MAX_PROBE_MESSAGE_BYTES + 16
      void this.readChannel(to, stream)
      return stream
    })
    this.channels.set(to, { opening })
    opening.catch(() => {
      if (this.channels.get(to)?.opening === opening) this.channels.delete(to)
    })
    return opening
  }

  /**
   * A stream to the peer within this send's budget. A connection still to be made is dialled with
   * its own, longer budget (CONNECT_TIMEOUT_MS) that later sends join: on a loaded machine a
   * Noise handshake can outlast one probe's 2 s, and abandoning it at that deadline threw the work
   * away, so the next probe dialled again and timed out again (measured in the lab at N = 40:
   * about 0.3 abandoned handshakes per node per second, each a false "timeout" for the protocol).
   * The send still fails at its own deadline; a refused or unreachable dial fails it at once.
   */
  private async openStream(peerId: PeerId, protocol: string, signal: AbortSignal): Promise<Stream> {
    const existing = this.node.getConnections(peerId).find((c) => c.status === 'open')
    if (existing !== undefined) {
      try {
        return await existing.newStream(protocol, { signal })
      } catch (err) {
        // A connection the peer closed while we could not read it (we were stalled or frozen, and
        // it declared us failed and hung up) still looks open until its close is read: replace
        // it once with a fresh dial (after a SIGSTOP/SIGCONT in the lab the first sends all failed
        // this way). Only a connection shown dead, though: a peer that refuses the protocol (not a
        // member, a stream cap) keeps its connection, and the send fails as before.
        const dead = existing.status !== 'open' || (err as Error)?.name === 'ConnectionClosedError'
        if (!dead || signal.aborted || this.stopped) throw err
        existing.abort(err instanceof Error ? err : new Error('stream open failed'))
        this.counters.redials++
      }
    }
    const dial = this.node.dial(peerId, { signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS), force: existing !== undefined })
    dial.catch(() => undefined) // reported through the race below, or by the next send
    const conn = await untilAborted(dial, signal)
    return conn.newStream(protocol, { signal })
  }

  private dropChannel(to: string, stream: Stream, err?: unknown): void {
    if (this.channels.get(to)?.stream === stream) this.channels.delete(to)
    if (stream.status === 'open') stream.abort(err instanceof Error ? err : new Error('probe channel dropped'))
  }

  /** What the peer sends back on our channel: acks to our pings, and any other probe message. */
  private async readChannel(to: string, stream: Stream): Promise<void> {
    try {
      for await (const chunk of lp.decode(stream, { maxDataLength: MAX_PROBE_MESSAGE_BYTES })) {
        const bytes = chunk.subarray()
        const msg = decodeMessage(bytes, MAX_PROBE_MESSAGE_BYTES)
        if (!PROBE_TYPES.has(msg.type)) throw new WireError(`${msg.type} message is not allowed on ${this.protocols.probe}`)
        this.counters.received++
        this.counters.bytesReceived += bytes.byteLength
        if (this.stopped) return
        this.safe(() => this.handlers.message(to, msg))
      }
    } catch (err) {
      // A channel that breaks is no evidence: the protocol's own timeouts decide.
      if (isBadInput(err) && !this.stopped) {
        this.reject(to, this.protocols.probe, rejectionReason(err))
        stream.abort(err as Error)
      }
    } finally {
      if (this.channels.get(to)?.stream === stream) this.channels.delete(to)
      // The peer ended its side (idle, or shutting down): end ours.
      if (stream.status === 'open') await stream.close().catch((e: Error) => stream.abort(e))
    }
  }

  private dialFailed(to: string, msg: Message, err: unknown, signal: AbortSignal): void {
    const reason = classifyDialError(err, signal.aborted)
    this.log('info', 'dial failed', { to, type: msg.type, reason, error: describeError(err) })
    this.reportSendFailed(to, msg, reason)
  }

  private reportSendFailed(to: string, msg: Message, reason: SendFailure): void {
    if (this.stopped) return
    this.safe(() => this.handlers.sendFailed(to, msg, reason))
  }

  // -------------------------------------------------------------------------------------------
  // unicast in

  /**
   * A peer's probe channel: many messages, each handled like a one-message stream would be (a
   * ping's ack goes back on this stream). The first message must arrive within the probe budget (a
   * stuck opener is freed as before); after that the channel stays open until it has been idle for
   * PROBE_CHANNEL_IDLE_MS. Bad input ends the channel and is counted.
   */
  private async onProbeChannel(stream: Stream, conn: Connection): Promise<void> {
    const protocol = this.protocols.probe
    const from = conn.remotePeer.toString()
    if (!this.admitInbound(from, protocol, stream)) return
    lazyWindowUpdates(stream)
    stream.maxReadBufferLength = MAX_PROBE_MESSAGE_BYTES + 16
    let timer: ReturnType<typeof setTimeout> | undefined
    const idleAfter = (ms: number, first: boolean) => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        if (first) return stream.abort(new Error(`inbound stream not finished within ${ms} ms`))
        // Idle: close our side; the peer then closes its own, or is reset after one more probe budget.
        stream.close().catch((err: Error) => stream.abort(err))
        timer = setTimeout(() => stream.abort(new Error('peer did not close an idle probe channel')), this.probeTimeoutMs)
        timer.unref?.()
      }, ms)
      timer.unref?.()
    }
    idleAfter(this.probeTimeoutMs, true)
    try {
      for await (const chunk of lp.decode(stream, { maxDataLength: MAX_PROBE_MESSAGE_BYTES })) {
        idleAfter(PROBE_CHANNEL_IDLE_MS, false)
        const bytes = chunk.subarray()
        const msg = decodeMessage(bytes, MAX_PROBE_MESSAGE_BYTES)
        if (!PROBE_TYPES.has(msg.type)) throw new WireError(`${msg.type} message is not allowed on ${protocol}`)
        this.counters.received++
        this.counters.bytesReceived += bytes.byteLength
        if (this.stopped) return
        // The protocol's synchronous ack decision comes back through send() while handlers.message runs.
        const replyKey = msg.type === 'ping' ? `${from}:${msg.seq}` : undefined
        if (replyKey) {
          this.replies.set(replyKey, (ack) => {
            const frame = lp.encode.single(encodeMessage(ack))
            try {
              stream.send(frame)
              this.counters.sent++
              this.counters.bytesSent += frame.byteLength
            } catch (err) {
              this.log('info', 'reply write failed', { to: from, error: describeError(err) })
            }
          })
        }
        this.safe(() => this.handlers.message(from, msg))
        if (replyKey) this.replies.delete(replyKey)
        this.markConnected(from)
      }
      if (stream.status === 'open') await stream.close().catch((err: Error) => stream.abort(err))
    } catch (err) {
      this.inboundFailed(from, protocol, stream, err)
    } finally {
      clearTimeout(timer)
      this.releaseInbound(from)
    }
  }

  /** A sync stream: one message, then closed. */
  private async onInbound(protocol: string, allowed: ReadonlySet<Message['type']>, maxBytes: number, timeoutMs: number, stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    if (!this.admitInbound(from, protocol, stream)) return
    // Bytes beyond one framed message are never needed; libp2p resets the stream past this.
    stream.maxReadBufferLength = maxBytes + 16
    const timer = setTimeout(() => stream.abort(new Error(`inbound stream not finished within ${timeoutMs} ms`)), timeoutMs)
    try {
      let msg: Message
      let frameBytes: number
      try {
        const bytes = await readOneMessage(stream, maxBytes)
        frameBytes = bytes.byteLength
        msg = decodeMessage(bytes, maxBytes)
        if (!allowed.has(msg.type)) throw new WireError(`${msg.type} message is not allowed on ${protocol}`)
      } catch (err) {
        this.inboundFailed(from, protocol, stream, err)
        return
      }
      this.counters.received++
      this.counters.bytesReceived += frameBytes
      if (!this.stopped) this.safe(() => this.handlers.message(from, msg))
      this.markConnected(from)
      await stream.close().catch((err: Error) => stream.abort(err))
    } finally {
      clearTimeout(timer)
      this.releaseInbound(from)
    }
  }

  /** Counts an inbound stream against the per-peer cap; a stream over the cap is reset and counted. */
  private admitInbound(from: string, protocol: string, stream: Stream): boolean {
    const open = (this.inboundStreams.get(from) ?? 0) + 1
    if (open > MAX_INBOUND_STREAMS_PER_PEER) {
      stream.abort(new Error('too many concurrent inbound streams'))
      this.reject(from, protocol, `more than ${MAX_INBOUND_STREAMS_PER_PEER} concurrent inbound streams`)
      return false
    }
    this.inboundStreams.set(from, open)
    return true
  }

  private releaseInbound(from: string): void {
    const left = (this.inboundStreams.get(from) ?? 1) - 1
    if (left <= 0) this.inboundStreams.delete(from)
    else this.inboundStreams.set(from, left)
  }

  private inboundFailed(from: string, protocol: string, stream: Stream, err: unknown): void {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (this.stopped) return
    // Bad bytes are rejected input; a reset or a stream that timed out is the network or a
    // busy peer (common while many nodes start on a loaded machine), not hostility.
    if (isBadInput(err)) this.reject(from, protocol, rejectionReason(err))
    else {
      this.counters.streamErrors++
      this.log('info', 'inbound stream failed', { from, protocol, error: rejectionReason(err) })
    }
  }

  // -------------------------------------------------------------------------------------------
  // broadcast

  broadcast(msg: UpdateMessage): void {
    if (this.stopped || !this.started) return
    const bytes = encodeMessage(msg)
    if (bytes.byteLength > MAX_UPDATE_BYTES) {
      this.log('warn', 'broadcast dropped: update over its size limit', { bytes: bytes.byteLength, limit: MAX_UPDATE_BYTES })
      return
    }
    this.node.services.pubsub.publish(this.protocols.topic, bytes).then(
      () => {
        this.counters.sent++
        this.counters.bytesSent += bytes.byteLength
      },
      (err: Error) => this.log('warn', 'broadcast failed', { error: err.message }),
    )
  }

  private validateUpdate(msg: GossipMessage): TopicValidatorResult {
    if (msg.type !== 'signed') {
      this.reject(undefined, this.protocols.topic, 'unsigned gossip message')
      return TopicValidatorResult.Reject
    }
    const author = msg.from.toString()
    let update: Message
    try {
      update = decodeMessage(msg.data, MAX_UPDATE_BYTES)
    } catch (err) {
      this.reject(author, this.protocols.topic, rejectionReason(err))
      return TopicValidatorResult.Reject
    }
    if (update.type !== 'update') {
      this.reject(author, this.protocols.topic, `${update.type} message is not allowed on the update topic`)
      return TopicValidatorResult.Reject
    }
    // Self-statements need their author or a signature; the protocol layer checks the signature itself.
    const forged = update.records.find((r) => (r.status === 'alive' || r.status === 'left') && r.id !== author && r.sig === undefined)
    if (forged !== undefined) {
      this.reject(author, this.protocols.topic, `unsigned ${forged.status} record for ${forged.id} published by ${author}`)
      return TopicValidatorResult.Reject
    }
    this.validated.set(msg, update)
    return TopicValidatorResult.Accept
  }

  private onGossip(msg: GossipMessage): void {
    if (this.stopped || msg.topic !== this.protocols.topic || msg.type !== 'signed') return
    const update = this.validated.get(msg)
    if (update === undefined) return // only validated messages are delivered
    const author = msg.from.toString()
    if (author === this.peerId) return
    this.counters.received++
    this.counters.bytesReceived += msg.data.byteLength
    this.safe(() => this.handlers.message(author, update))
  }

  // -------------------------------------------------------------------------------------------
  // peers and discovery

  addPeerAddrs(peer: string, addrs: string[]): boolean {
    if (this.stopped || peer === this.peerId) return false
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer)
    } catch {
      return false
    }
    const valid: Multiaddr[] = []
    for (const a of addrs.slice(0, LIMITS.addrsPerMember)) {
      try {
        let ma = multiaddr(a)
        const p2p = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
        if (p2p !== undefined && p2p !== peer) continue // an address of someone else
        if (p2p !== undefined) ma = ma.decapsulateCode(0x01a5) // /p2p/
        const ip = ma.getComponents()[0]
        if (ip === undefined || ip.value === '0.0.0.0' || ip.value === '::') continue
        valid.push(ma)
      } catch {
        // not a multiaddr: ignore this one
      }
    }
    if (valid.length === 0) return false
    const key = valid.map((m) => m.toString()).sort().join(' ')
    if (this.lastAddrs.get(peer) === key) return true
    if (this.lastAddrs.size >= MAX_REMEMBERED_ADDRS && !this.lastAddrs.has(peer)) this.lastAddrs.delete(this.lastAddrs.keys().next().value as string)
    this.lastAddrs.set(peer, key)
    this.node.peerStore.patch(peerId, { multiaddrs: valid }).catch((err: Error) => this.log('warn', 'cannot store peer addrs', { peer, error: err.message }))
    return true
  }

  async closeConnections(peer: string): Promise<void> {
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer)
    } catch {
      return
    }
    await this.node.hangUp(peerId).catch((err: Error) => this.log('warn', 'hang up failed', { peer, error: err.message }))
  }

  private markConnected(peer: string): void {
    if (this.stopped || this.groupPeers.has(peer)) return
    if (this.node.getConnections(peerIdFromString(peer)).length === 0) return
    this.groupPeers.add(peer)
    this.safe(() => this.handlers.connected(peer))
  }

  private isConnected(peer: PeerId): boolean {
    return this.node.getConnections(peer).length > 0
  }

  /** Announce our records (with our alive record) on the segment by mDNS; the node calls it at its join. */
  announceSelf(): void {
    if (!this.stopped) this.mdns?.announce()
  }

  private onMdnsPeer(peer: string, addrs: string[], record?: MemberRecord): void {
    if (this.stopped || peer === this.peerId) return
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer)
    } catch {
      return
    }
    this.addPeerAddrs(peer, addrs)
    // First the record, so the protocol knows the member is back before it decides whether to
    // contact it (a member it holds alive needs no sync).
    if (record !== undefined) this.safe(() => this.handlers.announced?.(record))
    if (this.isConnected(peerId)) return
    // No dial here: the protocol decides whom to contact (a joining node syncs with a few
    // candidates, a joined one with at most one discovery per probe period), so a lab that starts
    // at once does not open every connection (and run every Noise handshake) at the same moment.
    this.safe(() => this.handlers.discovered(peer))
  }

  private dialBootstrap(): void {
    for (const ma of this.bootstrap) {
      const id = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
      if (id === this.peerId) continue
      if (id !== undefined) {
        let peerId: PeerId
        try {
          peerId = peerIdFromString(id)
        } catch {
          continue
        }
        if (this.isConnected(peerId)) continue
      }
      this.dialQuietly(ma)
    }
  }

  private dialQuietly(target: PeerId | Multiaddr): void {
    if (this.stopped) return
    this.node.dial(target, { signal: AbortSignal.timeout(this.syncTimeoutMs) }).catch((err: Error) => {
      if (!this.stopped) this.log('info', 'dial failed', { target: target.toString(), error: err.message })
    })
  }

  // -------------------------------------------------------------------------------------------
  // helpers

  private abortIfOpenAfter(stream: Stream, ms: number): void {
    if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') return
    const timer = setTimeout(() => {
      if (stream.status !== 'closed') stream.abort(new Error('remote did not close the stream'))
    }, ms)
    timer.unref?.()
    stream.addEventListener('close', () => clearTimeout(timer), { once: true })
  }

  private reject(from: string | undefined, protocol: string, reason: string): void {
    this.counters.rejected++
    this.safe(() => this.handlers.rejected(from, protocol, reason))
  }

  private log(level: 'info' | 'warn', msg: string, data?: Record<string, unknown>): void {
    try {
      this.handlers.log?.(level, msg, data)
    } catch {
      // a failing logger must not break the transport
    }
  }

  /** Handler exceptions are the caller's bugs; they must not tear down a libp2p stream handler. */
  private safe(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.log('warn', 'transport handler threw', { error: String(err), stack: (err as Error).stack })
    }
  }
}

/** Read exactly one length-prefixed message of at most maxBytes. */
async function readOneMessage(stream: Stream, maxBytes: number): Promise<Uint8Array> {
  for await (const chunk of lp.decode(stream, { maxDataLength: maxBytes })) {
    return chunk.subarray()
  }
  throw new WireError('stream ended before a complete message')
}

/** One line naming every underlying error (AggregateError members, causes). */
function describeError(err: unknown): string {
  const leaves = leafErrors(err)
  const top = err as ErrLike
  const parts = leaves.map((e) => `${e.name ?? 'Error'}${e.code ? ` ${e.code}` : ''}: ${e.message ?? String(e)}`)
  return `${top?.name ?? 'Error'}: ${top?.message ?? String(err)}${leaves.length > 0 && leaves[0] !== top ? ` [${[...new Set(parts)].slice(0, 4).join('; ')}]` : ''}`
}

function isBadInput(err: unknown): boolean {
  const name = (err as ErrLike)?.name
  return err instanceof WireError || name === 'InvalidDataLengthError' || name === 'InvalidMessageLengthError' || name === 'InvalidDataLengthLengthError'
}

function rejectionReason(err: unknown): string {
  if (err instanceof WireError) return err.reason
  const e = err as ErrLike
  if (e?.name === 'InvalidDataLengthError') return `message larger than allowed (${e.message ?? ''})`
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`
}
