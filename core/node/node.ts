// The node: a thin shell around the pure protocol core. It owns the only timer, the monotonic clock,
// the libp2p transport, the data dir (identity, incarnation, event log) and the listeners; it feeds
// the core inputs and carries out the decisions the core returns. No membership rule lives here.

import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { PROFILES, resolveConfig, LIMITS, type ProfileName, type ProtocolConfig } from '../protocol/config.js'
import { startIncarnation } from '../protocol/rules.js'
import { SwimInstance, type SwimStats } from '../protocol/swim.js'
import type { Decision, Input, MemberMeta, MemberView, MembershipEvent, Random, SelfState } from '../protocol/types.js'
import { ensureDataDir, MAX_REMEMBERED_PEERS, readState, rememberedPeers, resolveDataDir, writeState, type RememberedPeer } from './datadir.js'
import { EventLog, logEntryFromEvent, type LogEntry } from './eventlog.js'
import { acquireAgentLock, type AgentLock } from './lock.js'
import type { Transport, TransportStats } from '../libp2p/transport.js'

// ---------------------------------------------------------------------------------------------
// Public types

export interface NodeOptions {
  /** Where identity, state and the event log live. Default: the platform's per-user state dir. */
  dataDir?: string
  /** Display name. Default: the hostname. At most 64 characters. */
  name?: string
  /** Group name: nodes of different groups never mix. Default 'default'. [A-Za-z0-9._-], 1..64. */
  group?: string
  /** Listen multiaddrs. Default ['/ip4/0.0.0.0/tcp/0']. */
  listen?: string[]
  /** Multiaddrs of known members, for networks that block multicast. */
  bootstrap?: string[]
  /** mDNS discovery: true (default), false, or confined to one interface. */
  mdns?: boolean | { interface?: string; intervalMs?: number }
  /** Timing profile: 'lan' (default) or 'local' (fast timers for many nodes on one machine). */
  profile?: ProfileName
  /** Overrides of individual protocol timings. */
  config?: Partial<ProtocolConfig>
  /** Identity key file. Default <dataDir>/identity.key. */
  keyFile?: string
  /** A libp2p pre-shared key file (swarm.key): only machines holding it can connect. */
  groupKeyFile?: string
  /** Small metadata (room, seat…); at most 512 bytes encoded. */
  tags?: Record<string, string>
  /** Keep the JSON Lines event log in the data dir. Default true. */
  eventLog?: boolean | { maxFileBytes?: number; maxFiles?: number }
  /** Operator log lines (structured). Default: none. */
  logger?: (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void
}

/** One member as the API shows it. */
export interface Member {
  id: string
  name: string
  status: MemberView['status']
  incarnation: number
  addrs: string[]
  tags: Record<string, string>
  /** When it entered its current status (ISO 8601, local wall clock). */
  since: string
  evidence?: MemberView['evidence']
  /** Round trip of our last successful direct probe, ms. */
  lastRttMs?: number
  /** Our last direct probe's outcome (for reachability edges): 'ack', 'timeout', 'refused'… */
  lastProbe?: string
  isSelf: boolean
}

/** A membership event as delivered to listeners and the event log. */
export interface NodeEvent extends MembershipEvent {
  /** Wall-clock time (ISO 8601). */
  ts: string
}

export type NodeEventType = MembershipEvent['type']
export type NodeEventMap = { [K in NodeEventType]: NodeEvent & { type: K } }

export interface NodeStats {
  protocol: SwimStats
  transport: TransportStats
  /** Bad input from the network (malformed, oversized, forged, rate-limited). */
  rejected: number
  /** Messages dropped by the per-peer rate limit. */
  rateLimited: number
  health: number
  eventLog?: { lastSeq: number; dropped: number; lastError?: string }
}

export interface Snapshot {
  self: Member
  group: string
  state: SelfState
  digest: string
  /** The view digest each alive member last reported to us (pings and acks carry it). */
  peerDigests: Record<string, string>
  members: Member[]
  stats: NodeStats
  at: string
}

// ---------------------------------------------------------------------------------------------
// Errors a caller can act on

export class InvalidOptionsError extends Error {
  override name = 'InvalidOptionsError'
}
export class NodeNotStartedError extends Error {
  override name = 'NodeNotStartedError'
  constructor() {
    super('the node is not started: call start() first')
  }
}
export class NodeStoppedError extends Error {
  override name = 'NodeStoppedError'
  constructor() {
    super('the node was stopped; create a new one')
  }
}

/**
 * Messages accepted per peer per second (token bucket, burst of twice this). An honest member sends
 * a few per second (probes, acks, relays, updates); a flood beyond this is dropped and counted.
 */
export const MAX_MESSAGES_PER_PEER_PER_SEC = 100
/** Peers tracked by the rate limiter; the least recently seen are forgotten beyond this. */
const MAX_RATE_BUCKETS = 4096

/** Events a slow async iterator may fall behind by before the oldest are dropped. */
export const MAX_ITERATOR_BUFFER = 10_000
/** Inputs that arrive before the core exists (during start) are queued up to this many. */
const MAX_EARLY_INPUTS = 1024
/** Listeners per event type: a leak would slow every event. */
const MAX_LISTENERS = 256

const GROUP_RE = /^[A-Za-z0-9._-]{1,64}$/

function validateOptions(o: NodeOptions): void {
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0 || o.name.length > LIMITS.nameChars)) {
    throw new InvalidOptionsError(`name must be 1..${LIMITS.nameChars} characters`)
  }
  if (o.group !== undefined && (typeof o.group !== 'string' || !GROUP_RE.test(o.group))) {
    throw new InvalidOptionsError(`group must be 1..64 characters of letters, digits, '.', '_' or '-'; got ${JSON.stringify(o.group)}`)
  }
  if (o.profile !== undefined && !(o.profile in PROFILES)) {
    throw new InvalidOptionsError(`profile must be one of ${Object.keys(PROFILES).join(', ')}; got ${JSON.stringify(o.profile)}`)
  }
  if (o.tags !== undefined) {
    if (typeof o.tags !== 'object' || o.tags === null) throw new InvalidOptionsError('tags must be an object of strings')
    for (const [k, v] of Object.entries(o.tags)) if (typeof v !== 'string') throw new InvalidOptionsError(`tag ${k} must be a string`)
    const bytes = Buffer.byteLength(JSON.stringify(o.tags))
    if (bytes > LIMITS.tagsBytes) throw new InvalidOptionsError(`tags are ${bytes} bytes encoded; at most ${LIMITS.tagsBytes}`)
  }
  for (const key of ['listen', 'bootstrap'] as const) {
    const v = o[key]
    if (v !== undefined && (!Array.isArray(v) || v.some((a) => typeof a !== 'string' || a.length > LIMITS.addrChars))) {
      throw new InvalidOptionsError(`${key} must be an array of multiaddr strings`)
    }
  }
}

/** Randomness for the core: Math.random is fine in the real node (the simulator seeds its own). */
const systemRandom: Random = { next: () => Math.random() }

/**
 * How many of the members a restarted node remembers (state.json) it contacts at once, as if
 * discovery had just found them. Fewer than the protocol's three join syncs, so a stale list (a
 * lab whose addresses all changed) still leaves one to the first member mDNS finds.
 */
const REMEMBERED_PEERS_AT_START = 2
/** Membership changes are saved to state.json (the remembered members) at most this often. */
const PEERS_SAVE_DELAY_MS = 2_000

// ---------------------------------------------------------------------------------------------

export class RollcallNode {
  readonly group: string
  readonly dataDir: string
  readonly config: ProtocolConfig
  private readonly opts: NodeOptions
  private readonly log: NonNullable<NodeOptions['logger']>

  private transport: Transport | undefined
  private swim: SwimInstance | undefined
  private eventLog: EventLog | undefined
  private lock: AgentLock | undefined
  private timer: NodeJS.Timeout | undefined
  private timerAtMs = Infinity
  private early: Input[] = []
  private peersSaveTimer: NodeJS.Timeout | undefined
  /** The members state.json remembers now (as read at start, then as last saved). */
  private savedPeers: RememberedPeer[] = []
  private started = false
  private stopped = false
  private rejectedCount = 0
  private lastRejectLogMs = -Infinity
  private readonly listeners = new Map<string, Set<(ev: NodeEvent) => void>>()
  private readonly waiters = new Set<{ state: SelfState; resolve: () => void }>()

  constructor(opts: NodeOptions = {}) {
    validateOptions(opts)
    this.opts = opts
    this.group = opts.group ?? 'default'
    this.dataDir = resolveDataDir(opts.dataDir)
    this.config = resolveConfig(PROFILES[opts.profile ?? 'lan'], opts.config)
    this.log = opts.logger ?? (() => {})
  }

  /** Monotonic milliseconds: timeouts never follow wall-clock jumps. */
  private nowMs(): number {
    return performance.now()
  }

  /** Start networking and the protocol; does not join (call join()). Safe to call twice. */
  async start(): Promise<void> {
    if (this.stopped) throw new NodeStoppedError()
    if (this.started) return
    this.started = true
    try {
      await this.startInner()
    } catch (err) {
      this.started = false
      await this.cleanup()
      throw err
    }
  }

  private async startInner(): Promise<void> {
    // Where start-up time goes, in the "node started" line: a restarted agent was once seen taking
    // 15–18 s on a busy lab machine, and the log did not say which phase.
    let lastMarkMs = performance.now()
    const startupMs: Record<string, number> = { processUptime: Math.round(process.uptime() * 1000) }
    const mark = (phase: string): void => {
      const t = performance.now()
      startupMs[phase] = Math.round(t - lastMarkMs)
      lastMarkMs = t
    }
    ensureDataDir(this.dataDir)
    this.lock = acquireAgentLock(this.dataDir)
    // Import libp2p lazily: the pure core and the simulator never load it.
    const { loadOrCreateIdentity, createEd25519Authenticator } = await import('../libp2p/identity.js')
    const { createLibp2pTransport } = await import('../libp2p/transport.js')
    const identity = await loadOrCreateIdentity(this.opts.keyFile ?? path.join(this.dataDir, 'identity.key'))
    if (identity.created) this.log('info', 'created a new identity', { peerId: identity.peerId })
    mark('loadAndIdentity')
    const groupKey = this.opts.groupKeyFile ? readGroupKey(this.opts.groupKeyFile) : undefined
    if (this.opts.eventLog !== false) {
      const lo = typeof this.opts.eventLog === 'object' ? this.opts.eventLog : {}
      this.eventLog = EventLog.open(this.dataDir, { ...lo, onError: (err: Error) => this.log('warn', 'event log write failed; buffering in memory', { error: err.message }) })
    }
    mark('eventLog')
    const mdns = this.opts.mdns === false ? false : this.opts.mdns === true || this.opts.mdns === undefined ? {} : this.opts.mdns
    const feed = (input: Input) => this.input(input)
    this.transport = await createLibp2pTransport(
      {
        privateKey: identity.privateKey, group: this.group, listen: this.opts.listen, bootstrap: this.opts.bootstrap, mdns, groupKey,
        probeTimeoutMs: Math.max(2000, this.config.probeIntervalMs * 2),
      },
      {
        message: (from, msg) => {
          if (this.allowFrom(from)) feed({ type: 'receive', nowMs: 0, from, msg })
        },
        sendFailed: (to, msg, reason) => feed({ type: 'send-failed', nowMs: 0, to, msg, reason }),
        connected: (peer) => feed({ type: 'connected', nowMs: 0, peer }),
        disconnected: (peer) => feed({ type: 'disconnected', nowMs: 0, peer }),
        discovered: (peer) => feed({ type: 'discovered', nowMs: 0, peer }),
        announced: (rec) => {
          if (this.allowFrom(rec.id)) feed({ type: 'announced', nowMs: 0, rec })
        },
        selfRecord: () => this.swim?.selfRecord(),
        rejected: (from, protocol, reason) => this.onRejected(from, protocol, reason),
        log: (level, msg, data) => this.log(level, msg, data),
      },
    )
    mark('transportCreate')
    await this.transport.start()
    mark('transportStart')
    const saved = readState(this.dataDir)
    const incarnation = startIncarnation(saved?.incarnation, Date.now() / 1000)
    writeState(this.dataDir, { ...(saved ?? {}), incarnation })
    const remembered = rememberedPeers(saved?.peers, identity.peerId)
    this.savedPeers = remembered
    const meta: MemberMeta = { name: this.opts.name ?? os.hostname().slice(0, LIMITS.nameChars), addrs: this.transport.addrs().slice(0, LIMITS.addrsPerMember), tags: this.opts.tags ?? {} }
    this.swim = new SwimInstance({
      id: identity.peerId, meta, config: this.config, random: systemRandom,
      auth: createEd25519Authenticator(identity.peerId, identity.privateKey), incarnation, nowMs: this.nowMs(),
    })
    this.log('info', 'node started', { id: identity.peerId, group: this.group, addrs: meta.addrs, incarnation, startupMs })
    const early = this.early
    this.early = []
    for (const i of early) this.input(i)
    this.contactRemembered(remembered)
  }

  /**
   * Members an earlier run of this agent knew alive (saved in state.json): contact a few at once, as
   * if discovery had just found them, so a restarted agent finds its group again where multicast is
   * blocked and no bootstrap address is set (as Serf's snapshot does). Not faster where mDNS works:
   * the fault lab's rejoin did not move (its first mDNS find comes 13–54 ms after the join starts,
   * and the connections take longer). A stale entry costs one failed sync; the join retries with
   * whoever discovery found.
   */
  private contactRemembered(remembered: RememberedPeer[]): void {
    const order = [...remembered]
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    let contacted = 0
    for (const p of order) {
      if (contacted >= REMEMBERED_PEERS_AT_START) break
      if (!this.transport!.addPeerAddrs(p.id, p.addrs)) continue
      contacted++
      this.input({ type: 'discovered', nowMs: 0, peer: p.id })
    }
    if (contacted > 0) this.log('info', 'contacting members remembered from the last run', { count: contacted, of: remembered.length })
  }

  /** After a membership change, save (at most every PEERS_SAVE_DELAY_MS) whom to contact next start. */
  private schedulePeersSave(): void {
    if (this.peersSaveTimer !== undefined || this.stopped) return
    this.peersSaveTimer = setTimeout(() => {
      this.peersSaveTimer = undefined
      this.savePeers()
    }, PEERS_SAVE_DELAY_MS)
    this.peersSaveTimer.unref?.()
  }

  /**
   * Remember up to MAX_REMEMBERED_PEERS alive members with their addrs: those remembered already
   * first (the file changes only when they do), then others at random. With nobody alive the last
   * list stays: a node alone remembers the group it had.
   */
  private savePeers(): void {
    const swim = this.swim
    if (!swim || this.stopped) return
    const alive = new Map(swim.members().filter((m) => !m.isSelf && m.status === 'alive' && m.addrs.length > 0).map((m) => [m.id, m]))
    if (alive.size === 0) return
    const ids = this.savedPeers.map((p) => p.id).filter((id) => alive.has(id))
    const others = [...alive.keys()].filter((id) => !ids.includes(id))
    while (ids.length < MAX_REMEMBERED_PEERS && others.length > 0) ids.push(others.splice(Math.floor(Math.random() * others.length), 1)[0])
    const peers: RememberedPeer[] = ids.map((id) => ({ id, addrs: alive.get(id)!.addrs.slice(0, LIMITS.addrsPerMember) }))
    if (JSON.stringify(peers) === JSON.stringify(this.savedPeers)) return
    try {
      writeState(this.dataDir, { ...(readState(this.dataDir) ?? { incarnation: swim.selfView().incarnation }), peers })
      this.savedPeers = peers
    } catch (err) {
      this.log('warn', 'could not save the members to contact after a restart', { error: (err as Error).message })
    }
  }

  /** Join the group; resolves once joined (or running as a group of one). Safe to repeat. */
  async join(): Promise<void> {
    const swim = this.requireStarted()
    if (swim.selfState === 'joined') return
    const done = this.waitForState('joined')
    this.input({ type: 'join', nowMs: 0 })
    await done
  }

  /** Leave gracefully: announce, keep answering probes for the grace period, then stop taking part. Safe to repeat. */
  async leave(): Promise<void> {
    const swim = this.requireStarted()
    if (swim.selfState !== 'joined' && swim.selfState !== 'joining' && swim.selfState !== 'leaving') return
    const done = this.waitForState('left')
    this.input({ type: 'leave', nowMs: 0 })
    await done
  }

  /** Stop networking without leaving (to the group this looks like a crash). Safe to repeat. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.cleanup()
    for (const w of this.waiters) w.resolve()
    this.waiters.clear()
  }

  private async cleanup(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.peersSaveTimer) clearTimeout(this.peersSaveTimer)
    this.peersSaveTimer = undefined
    try {
      await this.transport?.stop()
    } catch (err) {
      this.log('warn', 'transport stop failed', { error: (err as Error).message })
    }
    this.eventLog?.close()
    this.lock?.release()
    this.lock = undefined
  }

  self(): Member {
    const swim = this.requireStarted()
    return this.toMember(swim.selfView())
  }

  get id(): string {
    return this.requireStarted().id
  }

  get state(): SelfState {
    return this.swim?.selfState ?? 'idle'
  }

  /** Every known member, self included. */
  members(): Member[] {
    const swim = this.requireStarted()
    return swim.members().map((m) => this.toMember(m))
  }

  /** Members currently believed alive, self included. */
  reachable(): Member[] {
    return this.members().filter((m) => m.status === 'alive')
  }

  digest(): string {
    return this.requireStarted().digest()
  }

  stats(): NodeStats {
    const swim = this.requireStarted()
    const s: NodeStats = {
      protocol: { ...swim.stats },
      transport: this.transport!.stats(),
      rejected: this.rejectedCount + swim.stats.recordsRejected,
      rateLimited: this.rateLimited,
      health: swim.localHealth,
    }
    if (this.eventLog) {
      s.eventLog = { lastSeq: this.eventLog.lastSeq, dropped: this.eventLog.droppedCount }
      if (this.eventLog.lastError) s.eventLog.lastError = this.eventLog.lastError.message
    }
    return s
  }

  snapshot(): Snapshot {
    const swim = this.requireStarted()
    return { self: this.self(), group: this.group, state: swim.selfState, digest: swim.digest(), peerDigests: swim.peerDigests(), members: this.members(), stats: this.stats(), at: new Date().toISOString() }
  }

  /** Entries of the event log (oldest first). */
  events(opts: { sinceSeq?: number; limit?: number; last?: number } = {}): LogEntry[] {
    return this.eventLog?.read(opts) ?? []
  }

  /** Follow new event-log entries; returns an unsubscribe function. */
  followLog(fromSeq: number, fn: (e: LogEntry) => void): () => void {
    if (!this.eventLog) return () => {}
    return this.eventLog.follow(fromSeq, fn)
  }

  on<K extends NodeEventType>(type: K | '*', fn: (ev: NodeEventMap[K]) => void): this {
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    if (set.size >= MAX_LISTENERS) throw new Error(`too many listeners for ${type} (max ${MAX_LISTENERS}): is one leaking?`)
    set.add(fn as (ev: NodeEvent) => void)
    return this
  }

  off<K extends NodeEventType>(type: K | '*', fn: (ev: NodeEventMap[K]) => void): this {
    this.listeners.get(type)?.delete(fn as (ev: NodeEvent) => void)
    return this
  }

  /**
   * Async iterator over every event. A consumer slower than the node falls behind by at most
   * MAX_ITERATOR_BUFFER events; older ones are dropped (and counted in `dropped`).
   */
  changes(): AsyncIterableIterator<NodeEvent> & { dropped: number } {
    const buf: NodeEvent[] = []
    let wake: (() => void) | undefined
    let done = false
    const fn = (ev: NodeEvent) => {
      if (buf.length >= MAX_ITERATOR_BUFFER) {
        buf.shift()
        it.dropped++
      }
      buf.push(ev)
      wake?.()
    }
    this.on('*', fn)
    const finish = () => {
      done = true
      this.off('*', fn)
      wake?.()
    }
    const it = {
      dropped: 0,
      [Symbol.asyncIterator]() {
        return this
      },
      async next(): Promise<IteratorResult<NodeEvent>> {
        while (buf.length === 0 && !done) await new Promise<void>((r) => (wake = r))
        wake = undefined
        if (buf.length > 0) return { value: buf.shift()!, done: false }
        return { value: undefined, done: true }
      },
      async return(): Promise<IteratorResult<NodeEvent>> {
        finish()
        return { value: undefined, done: true }
      },
    }
    this.waiters.add({ state: 'idle', resolve: finish }) // ended by stop()
    return it
  }

  /** Tell the core about a new display name or tags (raises our incarnation). */
  setMeta(meta: { name?: string; tags?: Record<string, string> }): void {
    const swim = this.requireStarted()
    validateOptions(meta)
    const cur = swim.selfView()
    this.input({ type: 'set-meta', nowMs: 0, meta: { name: meta.name ?? cur.name, addrs: cur.addrs, tags: meta.tags ?? cur.tags } })
  }

  /**
   * Tell the node the machine just woke from sleep (the desktop app calls this from Electron's
   * powerMonitor 'resume'). The monotonic clock may not have counted the suspend, so without this
   * the core could not know; it then defers verdicts exactly as after a detected stall.
   */
  notifyResume(sleptMs: number): void {
    this.requireStarted()
    if (!Number.isFinite(sleptMs) || sleptMs < 0) throw new InvalidOptionsError('sleptMs must be a finite number ≥ 0')
    this.input({ type: 'resumed', nowMs: 0, sleptMs })
  }

  /** For tests and the fault lab: drop every connection to a peer. */
  async disconnect(peer: string): Promise<void> {
    await this.transport?.closeConnections(peer)
  }

  // -------------------------------------------------------------------------------------------

  private requireStarted(): SwimInstance {
    if (this.stopped) throw new NodeStoppedError()
    if (!this.swim) throw new NodeNotStartedError()
    return this.swim
  }

  private waitForState(state: SelfState): Promise<void> {
    return new Promise((resolve) => {
      const w = { state, resolve: () => { this.waiters.delete(w); resolve() } }
      this.waiters.add(w)
    })
  }

  private input(input: Input): void {
    if (this.stopped) return
    const swim = this.swim
    if (!swim) {
      if (this.early.length < MAX_EARLY_INPUTS) this.early.push(input)
      return
    }
    let decisions: Decision[]
    try {
      decisions = swim.handle({ ...input, nowMs: this.nowMs() } as Input)
    } catch (err) {
      // A broken invariant is a bug: report it loudly, keep the node alive.
      this.log('warn', 'protocol invariant broken', { error: (err as Error).stack ?? String(err), input: input.type })
      decisions = []
    }
    this.carryOut(decisions)
    this.arm()
  }

  private carryOut(decisions: Decision[]): void {
    const t = this.transport!
    for (const d of decisions) {
      switch (d.type) {
        case 'send':
          t.send(d.to, d.msg)
          break
        case 'broadcast':
          t.broadcast(d.msg)
          // Our join: also to the segment by mDNS, which reaches every member at once, connected to
          // us or not. Not every later change of our record (a refutation): in a storm of
          // suspicions every member would multicast and every member read them all.
          if (this.swim!.selfState === 'joining' && d.msg.records.some((r) => r.id === this.swim!.id && r.status === 'alive')) t.announceSelf()
          break
        case 'persist-incarnation':
          try {
            writeState(this.dataDir, { ...(readState(this.dataDir) ?? {}), incarnation: d.incarnation })
          } catch (err) {
            this.log('warn', 'could not persist incarnation; a restart will fall back to the wall clock', { error: (err as Error).message })
          }
          break
        case 'log':
          this.log(d.level, d.msg, d.data)
          break
        case 'event':
          this.onEvent(d.event)
          break
      }
    }
  }

  private onEvent(ev: MembershipEvent): void {
    const swim = this.swim!
    if (ev.type === 'member:joined' || ev.type === 'member:updated' || ev.type === 'member:recovered') {
      const m = swim.member(ev.id)
      if (m && !m.isSelf) this.transport!.addPeerAddrs(ev.id, m.addrs)
    }
    // A departed or failed member's connection may be half-dead (a cut cable keeps TCP open): drop
    // it so the next contact (a reconnect sync, its own return) dials afresh.
    if ((ev.type === 'member:left' || ev.type === 'member:failed') && ev.id !== swim.id) void this.transport!.closeConnections(ev.id).catch(() => {})
    if (ev.type !== 'view:changed' && ev.type !== 'self:state' && ev.id !== swim.id) this.schedulePeersSave()
    const wall = Date.now()
    const nev: NodeEvent = { ...ev, ts: new Date(wall).toISOString() }
    if (ev.type !== 'view:changed' && this.eventLog) this.eventLog.append(logEntryFromEvent(ev, wall))
    if (ev.type !== 'view:changed' && ev.type !== 'self:state') {
      this.log('info', `${ev.type} ${ev.name || ev.id.slice(-8)}`, { id: ev.id, from: ev.from, to: ev.to, incarnation: ev.incarnation, rule: ev.evidence?.rule })
    }
    if (ev.type === 'self:state') {
      this.log('info', `self ${ev.from} → ${ev.to}`, { incarnation: ev.incarnation })
      for (const w of [...this.waiters]) if (w.state === ev.to) w.resolve()
    }
    for (const key of [ev.type, '*']) {
      for (const fn of this.listeners.get(key) ?? []) {
        try {
          fn(nev)
        } catch (err) {
          this.log('warn', 'event listener threw', { type: ev.type, error: (err as Error).message })
        }
      }
    }
  }

  private arm(): void {
    const swim = this.swim
    if (!swim || this.stopped) return
    const at = swim.nextDeadlineMs()
    if (at === this.timerAtMs && this.timer) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAtMs = at
    if (!Number.isFinite(at)) return
    const delay = Math.max(0, Math.min(at - this.nowMs(), 2 ** 31 - 1))
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAtMs = Infinity
      // Node runs due timers before it reads the sockets. After a slow spell (a loaded machine)
      // the ack that answers a probe can be waiting in a socket when the probe's deadline fires:
      // let the I/O phase deliver it first (setImmediate runs right after that phase).
      setImmediate(() => this.input({ type: 'tick', nowMs: 0 }))
    }, delay)
    this.timer.unref?.()
  }

  private readonly buckets = new Map<string, { tokens: number; atMs: number }>()
  private rateLimited = 0

  /** Per-peer token bucket: a peer flooding messages cannot monopolise the node. */
  private allowFrom(peer: string): boolean {
    const now = this.nowMs()
    let b = this.buckets.get(peer)
    if (b) this.buckets.delete(peer)
    else b = { tokens: 2 * MAX_MESSAGES_PER_PEER_PER_SEC, atMs: now }
    b.tokens = Math.min(2 * MAX_MESSAGES_PER_PEER_PER_SEC, b.tokens + ((now - b.atMs) / 1000) * MAX_MESSAGES_PER_PEER_PER_SEC)
    b.atMs = now
    this.buckets.set(peer, b) // re-insert: Map order is then least recently seen first
    if (this.buckets.size > MAX_RATE_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!)
    if (b.tokens < 1) {
      this.rateLimited++
      this.onRejected(peer, 'rate-limit', `more than ${MAX_MESSAGES_PER_PEER_PER_SEC} messages/s`)
      return false
    }
    b.tokens -= 1
    return true
  }

  private onRejected(from: string | undefined, protocol: string, reason: string): void {
    this.rejectedCount++
    const now = this.nowMs()
    if (now - this.lastRejectLogMs > 1000) {
      this.lastRejectLogMs = now
      this.log('warn', 'rejected bad input', { from, protocol, reason, totalRejected: this.rejectedCount })
    }
  }

  private toMember(v: MemberView): Member {
    const wallSince = Date.now() - (this.nowMs() - v.sinceMs)
    const m: Member = {
      id: v.id, name: v.name, status: v.status, incarnation: v.incarnation, addrs: v.addrs, tags: v.tags,
      since: new Date(wallSince).toISOString(), isSelf: v.isSelf,
    }
    if (v.evidence) m.evidence = v.evidence
    if (v.lastRttMs !== undefined) m.lastRttMs = Math.round(v.lastRttMs * 10) / 10
    const lp = this.swim?.lastDirectOutcome(v.id)
    if (lp) m.lastProbe = lp
    return m
  }
}

/** Read a libp2p swarm key file (bounded); a bad file is a clear error. */
function readGroupKey(file: string): Uint8Array {
  let buf: Buffer
  try {
    buf = readFileSync(file)
  } catch (err) {
    throw new InvalidOptionsError(`cannot read group key file ${file}: ${(err as Error).message}`)
  }
  if (buf.byteLength > 4096 || !buf.toString('utf8').startsWith('/key/swarm/psk/1.0.0/')) {
    throw new InvalidOptionsError(`${file} is not a libp2p swarm key (expected a file starting with /key/swarm/psk/1.0.0/)`)
  }
  return new Uint8Array(buf)
}

/** Create a node (not yet started). */
export function createNode(options: NodeOptions = {}): RollcallNode {
  return new RollcallNode(options)
}
