// The membership protocol as a pure state machine: SWIM probing (direct, then indirect through k
// helpers), Lifeguard suspicion and local health, incarnation-based precedence, broadcast of every
// change plus push-pull anti-entropy. Inputs carry `nowMs`; outputs are decisions the shell
// carries out. No timers, sockets, Date.now() or Math.random() here (docs/MODEL.md).
//
// Shape after apple/swift-cluster-membership's SWIMInstance: each handler appends directives to
// one list that is returned at the end, so no early return can skip the work that must always
// happen (digest bookkeeping, view:changed).

import { trustingAuthenticator } from './auth.js'
import {
  LIMITS,
  expectedConfirmations,
  scaledTimeoutMs,
  suspicionMaxMs,
  suspicionMinMs,
  suspicionTimeoutMs,
  type ProtocolConfig,
} from './config.js'
import { Digest, idHash, memberTerm } from './digest.js'
import { compareClaims, digestClass, mustRefute, needsSelfProof, refutationIncarnation } from './rules.js'
import type {
  Authenticator,
  Decision,
  Evidence,
  Input,
  MemberId,
  MemberMeta,
  MemberRecord,
  MemberStatus,
  MemberView,
  MembershipEvent,
  MembershipEventType,
  Message,
  ProbeEvidence,
  ProbeOutcome,
  Random,
  SelfState,
  SyncMessage,
  Tombstone,
} from './types.js'

export interface SwimOptions {
  id: MemberId
  meta: MemberMeta
  config: ProtocolConfig
  random: Random
  /** Signs our self-statements and checks others'. Default: trust everything (closed simulations). */
  auth?: Authenticator
  /** Starting incarnation, from rules.startIncarnation(): above anything said in an earlier life. */
  incarnation: number
  nowMs: number
}

export class InvariantError extends Error {
  override name = 'InvariantError'
}

function assertNever(x: never): never {
  throw new InvariantError(`unexpected value: ${JSON.stringify(x)}`)
}

/** One row of the member table. `rec` is an immutable record, shared between nodes in the simulator. */
interface Entry {
  rec: MemberRecord
  sinceMs: number
  lastRttMs: number
  /** Outcome of our last direct probe of this member; drives the UI's reachability edges. */
  lastDirect: ProbeOutcome | undefined
}

interface Suspicion {
  incarnation: number
  startMs: number
  deadlineMs: number
  minMs: number
  maxMs: number
  expected: number
  strong: boolean
  /** Members that independently suspected it (first is the originator). */
  confirmers: MemberId[]
  /** Did we suspect it from our own probe? Then we broadcast the verdict when it fires. */
  independent: boolean
  /** Someone already announced it failed: our own verdict need not be broadcast again. */
  failedHeard?: boolean
  /** Another member's suspicion of it reached us: our own pending announcement is redundant. */
  heardOther?: boolean
  /** Our own announcement, held back a random moment (see suspectFromProbe). */
  announce?: { atMs: number; rec: MemberRecord }
  evidence: Evidence
}

interface Probe {
  seq: number
  target: MemberId
  startMs: number
  phase: 'direct' | 'indirect'
  directDeadlineMs: number
  periodEndMs: number
  helpers: MemberId[]
  nacks: Set<MemberId>
  evidence: ProbeEvidence[]
  /** Started because the connection to the target closed (everyone connected saw that close). */
  afterClose: boolean
}

interface Relay {
  requester: MemberId
  requesterSeq: number
  target: MemberId
  deadlineMs: number
}

/** Counters for stats and tests. */
export interface SwimStats {
  probes: number
  probeFailures: number
  indirectProbes: number
  refutations: number
  syncsStarted: number
  recordsRejected: number
  stalls: number
  /** Inputs that came more than LATE_WAKE_FRACTION × probeTimeoutMs after a deadline (a loaded loop), below a stall. */
  lateWakes: number
  /** Failed probes that no helper answered at all: the target was probed again before any suspicion (see probeFailed). */
  inconclusiveProbes: number
  suspicionsStarted: number
}

const MAX_CANDIDATES = 1024
const MAX_URGENT = 64
/** Checks of second-hand strong evidence in flight at once (one per suspected member; a burst of crashes). */
const MAX_CHECKS = 16
/** A wake later than this share of probeTimeoutMs after its deadline raises local health by one (see observeTime). */
const LATE_WAKE_FRACTION = 0.5
/** An inconclusive probe (see probeFailed) is followed up within this many probe periods (scaled), or forgotten. */
const INCONCLUSIVE_VALID_PERIODS = 3
/** Join syncs to candidates per attempt: enough to get through one dead address. */
const JOIN_FANOUT = 3

export class SwimInstance {
  readonly id: MemberId
  readonly config: ProtocolConfig
  private readonly random: Random
  private readonly auth: Authenticator

  private incarnation: number
  private meta: MemberMeta
  private state: SelfState = 'idle'
  private health = 0
  private now: number
  /** The deadline we last asked the shell to wake us at; a much later input means we stalled. */
  private dueMs = Infinity

  private readonly table = new Map<MemberId, Entry>()
  private readonly digestAcc = new Digest()
  private lastDigest = ''
  private readonly tombstones = new Map<MemberId, { incarnation: number; expiresAtMs: number }>()
  /** Failed/left members in the order they became so; checked at the head for tombstone expiry. */
  private expiryQueue: { id: MemberId; incarnation: number; atMs: number }[] = []
  private expiryHead = 0
  private readonly suspicions = new Map<MemberId, Suspicion>()
  /** The view digest each member last reported to us (on a ping or an ack): shows whether views agree. */
  private readonly reportedDigests = new Map<MemberId, string>()
  /** Members currently failed: reconnect() picks from these without scanning the table. */
  private readonly failed = new Set<MemberId>()

  private probeOrder: MemberId[] = []
  private probeIndex = 0
  private probe: Probe | undefined
  private nextProbeAtMs = Infinity
  private readonly urgent: MemberId[] = []
  private readonly lastUrgentMs = new Map<MemberId, number>()
  /** Urgent targets queued because their connection closed (bounded like `urgent`). */
  private readonly closeTriggered = new Set<MemberId>()
  private readonly lastToldMs = new Map<MemberId, number>()
  private readonly relays = new Map<number, Relay>()
  /** Our own checks of strong evidence heard second-hand: ping seq → target (bounded by MAX_CHECKS). */
  private readonly checks = new Map<number, { target: MemberId; deadlineMs: number }>()
  private seq = 0

  private nextSyncAtMs = Infinity
  private nextReconnectAtMs = Infinity
  private lastDigestSyncMs = -Infinity
  /** Peers the shell reported connected and not since disconnected (probes to others get connectAllowanceMs). */
  private readonly connectedPeers = new Set<MemberId>()
  /** Discovery-driven syncs: how many this join attempt, and when the last one went out once joined. */
  private joinSyncsThisAttempt = 0
  private lastDiscoverySyncMs = -Infinity
  /** Members we hold down that discovery found again, and when to sync with them (see onDiscovered). */
  private readonly deferredDiscoveries = new Map<MemberId, number>()
  /** Members back from failed/left/suspect by their own announcement: their join sync is still broadcast (onSync). */
  private readonly announcedReturns = new Set<MemberId>()
  /**
   * Members whose last probe was inconclusive (no helper answered at all, see probeFailed), with
   * that probe's evidence: the next failed probe of them suspects them. Bounded by MAX_URGENT.
   */
  private readonly inconclusive = new Map<MemberId, { atMs: number; evidence: ProbeEvidence[] }>()
  /** Our own failed verdicts after strong evidence, held back a random moment (see suspicionExpired); bounded by MAX_URGENT. */
  private readonly pendingFailed = new Map<MemberId, { atMs: number; rec: MemberRecord }>()
  private joinRetryAtMs = Infinity
  private joinGiveUpAtMs = Infinity
  private leaveEndMs = Infinity
  /** Discovered peers not (yet) members, with when we last tried to sync with them. */
  private readonly candidates = new Map<MemberId, number>()

  readonly stats: SwimStats = {
    probes: 0, probeFailures: 0, indirectProbes: 0, refutations: 0, syncsStarted: 0, recordsRejected: 0, stalls: 0, lateWakes: 0, inconclusiveProbes: 0, suspicionsStarted: 0,
  }

  constructor(opts: SwimOptions) {
    this.id = opts.id
    this.config = opts.config
    this.random = opts.random
    this.auth = opts.auth ?? trustingAuthenticator
    this.incarnation = opts.incarnation
    this.meta = opts.meta
    this.now = opts.nowMs
  }

  // -------------------------------------------------------------------------------------------
  // Read side

  get selfState(): SelfState {
    return this.state
  }

  get selfIncarnation(): number {
    return this.incarnation
  }

  get localHealth(): number {
    return this.health
  }

  digest(): string {
    return this.digestAcc.toString()
  }

  memberCount(): number {
    return this.table.size
  }

  status(id: MemberId): MemberStatus | undefined {
    return this.table.get(id)?.rec.status
  }

  incarnationOf(id: MemberId): number | undefined {
    return this.table.get(id)?.rec.incarnation
  }

  member(id: MemberId): MemberView | undefined {
    const e = this.table.get(id)
    return e ? this.view(e) : undefined
  }

  /** Our own signed alive record while we take part (joining or joined), for the shell to announce; else undefined. */
  selfRecord(): MemberRecord | undefined {
    if (this.state !== 'joined' && this.state !== 'joining') return undefined
    const rec = this.table.get(this.id)?.rec
    return rec?.status === 'alive' ? rec : undefined
  }

  /**
   * Our own view. Before the first join our record is not in the table yet: describe the identity
   * we will join with (status alive at the starting incarnation; selfState says we are idle).
   */
  selfView(): MemberView {
    const e = this.table.get(this.id)
    if (e) return this.view(e)
    return { id: this.id, name: this.meta.name, status: 'alive', incarnation: this.incarnation, addrs: this.meta.addrs, tags: this.meta.tags, sinceMs: Math.floor(this.now), isSelf: true }
  }

  /** Digests that alive members last reported to us (as of their last ping or ack). */
  peerDigests(): Record<MemberId, string> {
    const out: Record<MemberId, string> = {}
    for (const [id, d] of this.reportedDigests) if (this.table.get(id)?.rec.status === 'alive') out[id] = d
    return out
  }

  members(): MemberView[] {
    const out: MemberView[] = []
    for (const e of this.table.values()) out.push(this.view(e))
    return out
  }

  /** Iterate (id, status) without allocating views: for the simulator's checks. */
  forEachStatus(fn: (id: MemberId, status: MemberStatus, incarnation: number) => void): void {
    for (const e of this.table.values()) fn(e.rec.id, e.rec.status, e.rec.incarnation)
  }

  isTombstoned(id: MemberId): boolean {
    return this.tombstones.has(id)
  }

  /** When the shell must call tick() next (Infinity: only inputs can make work). */
  nextDeadlineMs(): number {
    let t = Math.min(this.nextSyncAtMs, this.nextReconnectAtMs, this.joinRetryAtMs, this.joinGiveUpAtMs, this.leaveEndMs)
    // The next probe starts once the current one ends (a probe that needed a connection set up runs
    // past its period): while one runs, only its own deadlines count.
    const p = this.probe
    if (p) t = Math.min(t, p.phase === 'direct' ? p.directDeadlineMs : p.periodEndMs)
    else t = Math.min(t, this.nextProbeAtMs)
    for (const s of this.suspicions.values()) {
      if (s.deadlineMs < t) t = s.deadlineMs
      if (s.announce && s.announce.atMs < t) t = s.announce.atMs
    }
    for (const r of this.relays.values()) if (r.deadlineMs < t) t = r.deadlineMs
    for (const f of this.pendingFailed.values()) if (f.atMs < t) t = f.atMs
    for (const dueMs of this.deferredDiscoveries.values()) if (dueMs < t) t = dueMs
    if (this.expiryHead < this.expiryQueue.length) t = Math.min(t, this.expiryQueue[this.expiryHead].atMs + this.config.tombstoneTimeoutMs)
    // Map order is insertion order and retention is constant: the first tombstone expires first.
    const oldest = this.tombstones.values().next()
    if (!oldest.done) t = Math.min(t, oldest.value.expiresAtMs)
    // A deadline may already be past (a confirmation shortened a suspicion): the shell ticks at
    // once, and that must not read as a stall.
    this.dueMs = Math.max(t, this.now)
    return t
  }


  private view(e: Entry): MemberView {
    const r = e.rec
    const v: MemberView = {
      id: r.id,
      name: r.meta?.name ?? '',
      status: r.status,
      incarnation: r.incarnation,
      addrs: r.meta?.addrs ?? [],
      tags: r.meta?.tags ?? {},
      sinceMs: e.sinceMs,
      isSelf: r.id === this.id,
    }
    if (r.evidence) v.evidence = r.evidence
    if (e.lastRttMs >= 0) v.lastRttMs = e.lastRttMs
    return v
  }

  /** Outcome of our last direct probe of `id` (for reachability edges). */
  lastDirectOutcome(id: MemberId): ProbeOutcome | undefined {
    return this.table.get(id)?.lastDirect
  }

  // -------------------------------------------------------------------------------------------
  // The single entry point

  handle(input: Input): Decision[] {
    const out: Decision[] = []
    this.observeTime(input.nowMs, out)
    switch (input.type) {
      case 'tick':
        this.onTick(out)
        break
      case 'receive':
        this.onReceive(input.from, input.msg, out)
        break
      case 'send-failed':
        this.onSendFailed(input.to, input.msg, input.reason, out)
        break
      case 'connected':
        this.onConnected(input.peer, out)
        break
      case 'disconnected':
        this.onDisconnected(input.peer, out)
        break
      case 'discovered':
        this.onDiscovered(input.peer, out)
        break
      case 'announced':
        this.onAnnounced(input.rec, out)
        break
      case 'join':
        this.onJoin(out)
        break
      case 'leave':
        this.onLeave(out)
        break
      case 'set-meta':
        this.onSetMeta(input.meta, out)
        break
      case 'resumed':
        // The shell knows we slept (the monotonic clock may not count suspend): same as a stall.
        if (input.sleptMs > 0) this.onStall(input.sleptMs, out)
        break
      default:
        assertNever(input)
    }
    this.afterInput(out)
    return out
  }

  // -------------------------------------------------------------------------------------------
  // Time and local health

  private observeTime(nowMs: number, out: Decision[]): void {
    if (nowMs < this.now) nowMs = this.now // the shell's clock is monotonic; never go back
    const lateMs = nowMs - this.dueMs
    this.now = nowMs
    if (lateMs > this.config.stallThresholdMs) this.onStall(lateMs, out)
    else if (lateMs > LATE_WAKE_FRACTION * this.config.probeTimeoutMs && (this.state === 'joined' || this.state === 'joining')) {
      // Our own loop is slow (a loaded machine): an answer may be as late as we are, so give
      // everyone more time before we accuse them (Lifeguard's local health, fed by our own lateness
      // as well as by missed nacks). Without this, a crash among 40 agents sharing 2 cores set off a
      // storm in about half the runs: the burst of verdicts delayed probes past their timeout, the
      // false suspicions and refutations that followed kept both cores full for 15 s and more.
      this.stats.lateWakes++
      this.raiseHealth(1)
    }
    this.dueMs = Infinity
  }

  private onStall(lateMs: number, out: Decision[]): void {
    if (this.state === 'joined' || this.state === 'joining') {
      // We were frozen (event loop stall, sleep): nothing we timed meanwhile is evidence about
      // others. Push our suspicion deadlines out by the stall, so refutations waiting in our
      // socket are heard first, and drop the probe in flight (Lifeguard §IV.A spirit).
      const nowMs = this.now
      this.stats.stalls++
      for (const s of this.suspicions.values()) s.deadlineMs += lateMs
      if (this.probe) {
        this.probe = undefined
        this.nextProbeAtMs = nowMs + this.config.probeIntervalMs
      }
      for (const [seq, r] of this.relays) {
        this.relays.delete(seq)
        out.push({ type: 'send', to: r.requester, msg: { type: 'nack', seq: r.requesterSeq, target: r.target } })
      }
      this.raiseHealth(2)
      out.push({ type: 'log', level: 'warn', msg: 'local stall detected: deferring verdicts', data: { stallMs: Math.round(lateMs), health: this.health } })
      // Others may have suspected us, or declared us failed, meanwhile: ask one member at once
      // (digests first) instead of waiting for our next probe or sync, so we refute in one round
      // trip.
      this.periodicSync(out)
    }
  }

  private raiseHealth(delta: number): void {
    this.health = Math.min(this.config.maxHealth, this.health + delta)
  }

  private lowerHealth(): void {
    this.health = Math.max(0, this.health - 1)
  }

  private scaled(ms: number): number {
    return scaledTimeoutMs(ms, this.health)
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  private onJoin(out: Decision[]): void {
    if (this.state === 'joining' || this.state === 'joined') return // safe to repeat
    if (this.state === 'leaving') return
    if (this.state === 'left') {
      // A rejoin after a leave is a new life: left is final for the old incarnation.
      this.incarnation += 1
      out.push({ type: 'persist-incarnation', incarnation: this.incarnation })
    }
    this.setState('joining', out)
    this.health = 0
    this.putSelf('alive', out)
    out.push({ type: 'broadcast', msg: { type: 'update', records: [this.table.get(this.id)!.rec] } })
    this.joinGiveUpAtMs = this.now + 3 * this.config.joinRetryMs
    this.sendJoinSyncs(out)
    this.startTimers()
  }

  private startTimers(): void {
    this.nextProbeAtMs = this.now + this.random.next() * this.config.probeIntervalMs
    this.nextSyncAtMs = this.now + this.config.syncIntervalMs * (0.5 + this.random.next())
    this.nextReconnectAtMs = this.now + this.config.reconnectIntervalMs
  }

  private sendJoinSyncs(out: Decision[]): void {
    const targets = [...this.candidates.keys()].filter((id) => id !== this.id)
    this.joinSyncsThisAttempt = 0
    for (const id of this.sample(targets, JOIN_FANOUT)) {
      this.candidates.set(id, this.now)
      this.joinSyncsThisAttempt++
      this.sendSync(id, true, true, out)
    }
    this.joinRetryAtMs = this.state === 'joining' ? this.now + this.config.joinRetryMs : Infinity
  }

  private becomeJoined(out: Decision[]): void {
    if (this.state !== 'joining') return
    this.joinRetryAtMs = Infinity
    this.joinGiveUpAtMs = Infinity
    this.setState('joined', out)
    // Our first announcement went out before any broadcast mesh existed (gossipsub delivers only
    // to peers whose subscription it has seen): announce again now that a member has answered.
    const self = this.table.get(this.id)
    if (self && self.rec.status === 'alive') out.push({ type: 'broadcast', msg: { type: 'update', records: [self.rec] } })
  }

  private onLeave(out: Decision[]): void {
    if (this.state !== 'joined' && this.state !== 'joining') return // safe to repeat
    this.setState('leaving', out)
    this.putSelf('left', out)
    const rec = this.table.get(this.id)!.rec
    out.push({ type: 'broadcast', msg: { type: 'update', records: [rec] } })
    // Also tell a few members directly: a leave must not be mistaken for a failure.
    for (const id of this.pickMembers(this.config.leaveDirectFanout, new Set([this.id]), ['alive', 'suspect'])) {
      out.push({ type: 'send', to: id, msg: { type: 'update', records: [rec] } })
    }
    this.probe = undefined
    this.nextProbeAtMs = Infinity
    this.nextSyncAtMs = Infinity
    this.nextReconnectAtMs = Infinity
    this.joinRetryAtMs = Infinity
    this.joinGiveUpAtMs = Infinity
    this.suspicions.clear()
    this.leaveEndMs = this.now + this.config.leaveGraceMs
  }

  private finishLeave(out: Decision[]): void {
    this.leaveEndMs = Infinity
    this.relays.clear()
    this.checks.clear()
    this.urgent.length = 0
    this.closeTriggered.clear()
    this.inconclusive.clear()
    this.deferredDiscoveries.clear()
    this.setState('left', out)
  }

  private onSetMeta(meta: MemberMeta, out: Decision[]): void {
    this.meta = meta
    if (this.state !== 'joined' && this.state !== 'joining') return
    this.incarnation += 1
    out.push({ type: 'persist-incarnation', incarnation: this.incarnation })
    this.putSelf('alive', out)
    out.push({ type: 'broadcast', msg: { type: 'update', records: [this.table.get(this.id)!.rec] } })
  }

  private setState(next: SelfState, out: Decision[]): void {
    const prev = this.state
    if (prev === next) return
    this.state = next
    out.push({
      type: 'event',
      event: { type: 'self:state', id: this.id, name: this.meta.name, from: prev, to: next, incarnation: this.incarnation, atMs: this.now },
    })
  }

  /** Write our own record (signed) into the table. */
  private putSelf(status: 'alive' | 'left', out: Decision[], evidence?: Evidence): void {
    const rec: MemberRecord = { id: this.id, incarnation: this.incarnation, status, meta: this.meta }
    const sig = this.auth.sign(rec)
    if (sig !== undefined) rec.sig = sig
    const prev = this.table.get(this.id)
    this.setRecord(rec, out, prev ? (status === 'left' ? 'member:left' : 'member:updated') : 'member:joined', evidence ?? {
      rule: status === 'left' ? 'leave-announced' : 'alive-record', observer: this.id, atMs: this.now,
    })
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  private onTick(out: Decision[]): void {
    const now = this.now
    if (this.state === 'leaving' && now >= this.leaveEndMs) this.finishLeave(out)
    if (this.state === 'joining') {
      if (now >= this.joinGiveUpAtMs) {
        // Nobody answered: we are a group of one until someone finds us (discovery keeps running).
        out.push({ type: 'log', level: 'info', msg: 'no member answered the join; running as a group of one for now' })
        this.becomeJoined(out)
      } else if (now >= this.joinRetryAtMs) {
        this.sendJoinSyncs(out)
      }
    }
    if (this.state === 'joined' || this.state === 'joining') {
      this.advanceProbe(out)
      if (!this.probe && now >= this.nextProbeAtMs) this.startProbe(out)
      if (now >= this.nextSyncAtMs) this.periodicSync(out)
      if (now >= this.nextReconnectAtMs) this.reconnect(out)
    }
    for (const [id, s] of this.suspicions) {
      if (s.announce && now >= s.announce.atMs) {
        if (!s.heardOther && !s.failedHeard) out.push({ type: 'broadcast', msg: { type: 'update', records: [s.announce.rec] } })
        s.announce = undefined
      }
      if (now >= s.deadlineMs) this.suspicionExpired(id, s, out)
    }
    for (const [seq, c] of this.checks) if (now >= c.deadlineMs) this.checks.delete(seq)
    for (const [id, f] of this.pendingFailed) {
      if (now < f.atMs) continue
      this.pendingFailed.delete(id)
      // Still our verdict (no refutation, no one else's announcement meanwhile): tell everyone.
      const cur = this.table.get(id)?.rec
      if (cur && cur.status === 'failed' && cur.incarnation === f.rec.incarnation) out.push({ type: 'broadcast', msg: { type: 'update', records: [f.rec] } })
    }
    for (const [id, dueMs] of this.deferredDiscoveries) {
      if (now < dueMs) continue
      this.deferredDiscoveries.delete(id)
      this.onDiscovered(id, out, true)
    }
    for (const [seq, r] of this.relays) {
      if (now >= r.deadlineMs) {
        this.relays.delete(seq)
        out.push({ type: 'send', to: r.requester, msg: { type: 'nack', seq: r.requesterSeq, target: r.target } })
      }
    }
    this.expireTombstones(out)
  }

  // -------------------------------------------------------------------------------------------
  // Probing (SWIM §3.1, §4.3 round-robin; Lifeguard nacks)

  private nextProbeTarget(): MemberId | undefined {
    while (this.urgent.length > 0) {
      const id = this.urgent.shift()!
      if (this.isProbeable(id)) return id
    }
    for (let attempts = 0; attempts < 2; attempts++) {
      while (this.probeIndex < this.probeOrder.length) {
        const id = this.probeOrder[this.probeIndex++]
        if (this.isProbeable(id)) return id
      }
      this.rebuildProbeOrder()
      if (this.probeOrder.length === 0) return undefined
    }
    return undefined
  }

  private isProbeable(id: MemberId): boolean {
    const s = this.table.get(id)?.rec.status
    return id !== this.id && (s === 'alive' || s === 'suspect')
  }

  private rebuildProbeOrder(): void {
    const ids: MemberId[] = []
    for (const e of this.table.values()) if (this.isProbeable(e.rec.id)) ids.push(e.rec.id)
    this.shuffle(ids)
    this.probeOrder = ids
    this.probeIndex = 0
  }

  private startProbe(out: Decision[]): void {
    const period = this.scaled(this.config.probeIntervalMs)
    this.nextProbeAtMs = this.now + period
    const target = this.nextProbeTarget()
    if (target === undefined) return
    const seq = ++this.seq
    const connectMs = this.connectAllowanceMs(target)
    this.probe = {
      seq, target, startMs: this.now, phase: 'direct',
      directDeadlineMs: this.now + this.scaled(this.config.probeTimeoutMs) + connectMs,
      periodEndMs: this.now + period + connectMs, helpers: [], nacks: new Set(), evidence: [],
      afterClose: this.closeTriggered.delete(target),
    }
    this.stats.probes++
    const ping: Message = { type: 'ping', seq, digest: this.digest() }
    const t = this.table.get(target)!.rec
    if (t.status === 'suspect') ping.suspect = t.incarnation
    out.push({ type: 'send', to: target, msg: ping })
  }

  /** No connection yet: a ping first needs one set up, which is no round trip of the member's. */
  private connectAllowanceMs(id: MemberId): number {
    return this.connectedPeers.has(id) ? 0 : this.config.connectAllowanceMs
  }

  private advanceProbe(out: Decision[]): void {
    const p = this.probe
    if (!p) return
    if (p.phase === 'direct' && this.now >= p.directDeadlineMs) this.startIndirect(p, 'timeout', out)
    if (p.phase === 'indirect' && this.now >= p.periodEndMs) this.probeFailed(p, out)
  }

  private startIndirect(p: Probe, outcome: ProbeOutcome, out: Decision[]): void {
    p.phase = 'indirect'
    // The helpers get the whole indirect window from when we actually ask them. When our own loop
    // ran late (a loaded machine: we woke past both deadlines at once), judging the probe at the
    // old period end would fail it the moment the ping-reqs went out, with no helper able to
    // answer: measured, 23 of the 75 false suspicions in the storm after a crash at N = 40.
    p.periodEndMs = Math.max(p.periodEndMs, this.now + (p.periodEndMs - p.directDeadlineMs))
    p.evidence.push({ by: this.id, outcome, atMs: this.now })
    this.markDirect(p.target, outcome)
    p.helpers = this.pickMembers(this.config.indirectChecks, new Set([this.id, p.target]), ['alive'])
    for (const h of p.helpers) {
      this.stats.indirectProbes++
      out.push({ type: 'send', to: h, msg: { type: 'ping-req', seq: p.seq, target: p.target } })
    }
  }

  private markDirect(id: MemberId, outcome: ProbeOutcome): void {
    const e = this.table.get(id)
    if (e) e.lastDirect = outcome
  }

  private probeSucceeded(p: Probe, direct: boolean, out: Decision[]): void {
    this.probe = undefined
    this.inconclusive.delete(p.target)
    const rttMs = this.now - p.startMs
    // A direct ack inside the unscaled probe timeout shows our loop and links are timely now: what
    // is left of the health counter is memory of a slow spell (a whole lab starting at once), so
    // halve it instead of counting down one per (slowed) period. Stalls are detected on their own.
    if (direct && rttMs <= this.config.probeTimeoutMs) this.health = Math.floor(this.health / 2)
    else this.lowerHealth()
    // The period was set from the health at the start of this probe; a healthier node probes sooner.
    if (this.nextProbeAtMs !== Infinity) this.nextProbeAtMs = Math.min(this.nextProbeAtMs, p.startMs + this.scaled(this.config.probeIntervalMs))
    const e = this.table.get(p.target)
    if (e && direct) {
      e.lastRttMs = rttMs
      e.lastDirect = 'ack'
    }
    this.tellIfSuspected(p.target, out)
  }

  /**
   * A member we hold suspect answered us: make sure it knows, so it can refute. Digests treat
   * suspect as up, so without this a member that missed the broadcast would not learn of it
   * until its suspicion had already expired.
   */
  private tellIfSuspected(id: MemberId, out: Decision[]): void {
    const e = this.table.get(id)
    if (!e || (e.rec.status !== 'suspect' && e.rec.status !== 'failed')) return
    this.correct(id, e.rec, out)
  }

  /**
   * Neither the target nor any helper answered. Lifeguard (§IV.A) reads helpers that do not even
   * nack as a sign that our own loop or links are slow, and raises local health, which lengthens
   * our next probes; here the accusation also waits for one of them. When not one helper answered
   * (not an ack, not a nack), the probe is inconclusive: it says as much about us as about the
   * target, so the target is probed again at once (the next probe), under the raised health, and
   * suspected only if that probe fails too. A frozen or cut-off member is still suspected after one
   * probe wherever a helper can nack; a node cut off from everyone accuses one probe period later.
   * (Fault lab, namespaces, N = 20 forming on 2 cores: while the connections of the full mesh were
   * still being made, 19 of the 20 agents each made one such accusation, every helper silent, and
   * the suspicions and refutations that followed kept the views from agreeing until 12–24 s after
   * the last agent was up, in 7 form runs of 12; MODEL.md §3.)
   */
  private probeFailed(p: Probe, out: Decision[]): void {
    this.probe = undefined
    this.stats.probeFailures++
    for (const h of p.helpers) {
      p.evidence.push({ by: this.id, via: h, outcome: p.nacks.has(h) ? 'nack' : 'timeout', atMs: this.now })
    }
    const missedNacks = p.helpers.length - p.nacks.size
    if (missedNacks > 0) this.raiseHealth(missedNacks)
    const held = this.inconclusive.get(p.target)
    this.inconclusive.delete(p.target)
    // Only the probe just before counts: an old inconclusive one says nothing about the target now.
    const earlier = held !== undefined && this.now - held.atMs <= INCONCLUSIVE_VALID_PERIODS * this.scaled(this.config.probeIntervalMs) ? held.evidence : undefined
    if (earlier === undefined && p.helpers.length > 0 && missedNacks === p.helpers.length && this.inconclusive.size < MAX_URGENT) {
      this.stats.inconclusiveProbes++
      this.inconclusive.set(p.target, { atMs: this.now, evidence: p.evidence.slice(0, LIMITS.evidenceProbes) })
      if (this.urgent.length < MAX_URGENT && !this.urgent.includes(p.target)) this.urgent.unshift(p.target)
      return
    }
    const evidence = [...(earlier ?? []), ...p.evidence].slice(-LIMITS.evidenceProbes)
    this.suspectFromProbe(p.target, false, evidence, out)
  }

  // -------------------------------------------------------------------------------------------
  // Suspicion (Lifeguard §IV.B: timeout shrinks with independent confirmations)

  private newSuspicion(id: MemberId, incarnation: number, strong: boolean, originator: MemberId, independent: boolean, evidence: Evidence): Suspicion {
    const n = this.table.size
    // Not scaled by local health: Lifeguard widens a slow node's probing (LHA-Probe), which is what
    // keeps it from accusing others; suspicion timers follow confirmations only (LHA-Suspicion).
    // Scaling them too made verdicts trickle in over many seconds on a loaded machine.
    const minMs = suspicionMinMs(this.config, n)
    const maxMs = suspicionMaxMs(this.config, n)
    const expected = expectedConfirmations(this.config, n)
    const s: Suspicion = {
      incarnation, startMs: this.now, deadlineMs: 0, minMs, maxMs, expected, strong,
      confirmers: [originator], independent, evidence,
    }
    s.deadlineMs = this.suspicionDeadline(s)
    this.stats.suspicionsStarted++
    return s
  }

  private suspicionDeadline(s: Suspicion): number {
    if (s.strong) return s.startMs + this.refutationWindowMs(s.independent)
    return s.startMs + suspicionTimeoutMs(s.minMs, s.maxMs, s.confirmers.length - 1, s.expected)
  }

  /**
   * The least time a member gets to refute, or a stale accusation to be corrected, after strong
   * evidence or a failed verdict. Heard second-hand, one probe period more: by then our next probe
   * exchange has carried digests both ways and a differing view has been synced.
   */
  private refutationWindowMs(firstHand: boolean): number {
    const base = Math.max(this.config.strongSuspicionMs, 2 * this.config.probeTimeoutMs)
    return base + (firstHand ? 0 : this.config.probeIntervalMs)
  }

  private addConfirmation(s: Suspicion, by: MemberId, strong: boolean): boolean {
    let changed = false
    if (!s.confirmers.includes(by) && s.confirmers.length < LIMITS.evidenceConfirmations) {
      s.confirmers.push(by)
      changed = true
    }
    if (strong && !s.strong) {
      s.strong = true
      changed = true
    }
    if (changed) s.deadlineMs = Math.min(s.deadlineMs, this.suspicionDeadline(s))
    return changed
  }

  /**
   * Our own probe of `id` failed: suspect it, or confirm an existing suspicion.
   *
   * `afterClose`: the probe followed a closed connection, which every member connected to `id` saw
   * at the same moment (a crash). Each of them would announce its own suspicion at once: N - 1
   * broadcasts, each relayed to every member (at N = 40 on one 2-core lab machine, thousands of
   * signed messages in a second, and probes timing out behind them). So hold the announcement back
   * a random moment (up to half the strong window) and drop it if another member's reached us.
   * Our own verdict and timer are unaffected.
   */
  private suspectFromProbe(id: MemberId, strong: boolean, probes: ProbeEvidence[], out: Decision[], afterClose = false): void {
    const e = this.table.get(id)
    if (!e || (e.rec.status !== 'alive' && e.rec.status !== 'suspect')) return
    const evidence: Evidence = {
      rule: strong ? 'connection-refused' : 'probe-failed', observer: this.id, atMs: this.now, probes,
      strength: strong ? 'strong' : 'weak',
    }
    const existing = this.suspicions.get(id)
    if (e.rec.status === 'suspect' && existing && existing.incarnation === e.rec.incarnation) {
      const had = existing.confirmers.includes(this.id)
      const wasStrong = existing.strong
      this.addConfirmation(existing, this.id, strong)
      existing.independent = true
      // Our own strong evidence (a refusal): the first-hand strong window applies, even when the
      // confirmer list is already full (so addConfirmation changed nothing).
      if (strong) existing.deadlineMs = Math.min(existing.deadlineMs, this.suspicionDeadline(existing))
      // Broadcast our confirmation only while it still shortens others' timers (bounded traffic).
      // Strong evidence already runs on the shortest window: confirmations change nothing there.
      if (!had && !wasStrong && existing.confirmers.length <= existing.expected + 1) {
        out.push({ type: 'broadcast', msg: { type: 'update', records: [{ ...e.rec, evidence }] } })
      }
      return
    }
    const s = this.newSuspicion(id, e.rec.incarnation, strong, this.id, true, evidence)
    this.suspicions.set(id, s)
    const rec: MemberRecord = { ...e.rec, status: 'suspect', evidence }
    this.setRecord(rec, out, 'member:suspected', evidence)
    if (afterClose) s.announce = { atMs: this.now + this.random.next() * (this.config.strongSuspicionMs / 2), rec }
    else out.push({ type: 'broadcast', msg: { type: 'update', records: [rec] } })
  }

  private suspicionExpired(id: MemberId, s: Suspicion, out: Decision[]): void {
    this.suspicions.delete(id)
    const e = this.table.get(id)
    if (!e || e.rec.status !== 'suspect' || e.rec.incarnation !== s.incarnation) return
    const evidence: Evidence = {
      rule: 'suspicion-timeout', observer: this.id, atMs: this.now, timeoutMs: Math.round(this.now - s.startMs),
      confirmations: s.confirmers.slice(0, LIMITS.evidenceConfirmations),
      strength: s.strong ? 'strong' : 'weak',
    }
    if (s.evidence.probes) evidence.probes = s.evidence.probes
    if (s.evidence.observer !== this.id) evidence.source = s.evidence.observer
    const rec: MemberRecord = { ...e.rec, status: 'failed', evidence }
    this.setRecord(rec, out, 'member:failed', evidence)
    // Only those who saw it fail first-hand announce it, and only if nobody has yet; the rest reach
    // the same verdict on their own timers, and anti-entropy repairs stragglers. (A crash at N = 40
    // is seen first-hand by all 39: 39 announcements, each relayed to every member, were a burst of
    // thousands of messages on a shared 2-core lab machine, and probes timed out behind it.)
    // After strong evidence (a refused or closed connection) every member connected to it reaches
    // this verdict at about the same moment, its strong window having started with the same close:
    // hold the announcement back a random moment (up to half that window) and drop it if another
    // member's arrives first, as the suspicion's announcement is (suspectFromProbe). Our own verdict
    // is unaffected; the members that take it second-hand were already counting their own,
    // longer, window. (Fault lab, N = 40 on 2 cores: with the verdicts announced at once, one crash
    // in four made ~30 announcements, each relayed to every member: both cores full for 5 s.)
    if (!s.independent || s.failedHeard) return
    if (s.strong && this.pendingFailed.size < MAX_URGENT) this.pendingFailed.set(id, { atMs: this.now + this.random.next() * (this.config.strongSuspicionMs / 2), rec })
    else out.push({ type: 'broadcast', msg: { type: 'update', records: [rec] } })
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  private onReceive(from: MemberId, msg: Message, out: Decision[]): void {
    if (from === this.id) return
    const active = this.state === 'joined' || this.state === 'joining' || this.state === 'leaving'
    if (!active) return
    switch (msg.type) {
      case 'ping': {
        if (this.table.has(from)) this.reportedDigests.set(from, msg.digest)
        const leaving = this.state === 'leaving'
        const before = this.incarnation
        if (msg.suspect !== undefined && !leaving) this.onClaimAboutSelf({ id: this.id, incarnation: msg.suspect, status: 'suspect' }, from, out)
        const self = this.table.get(this.id)!.rec
        const ack: Message = { type: 'ack', seq: msg.seq, digest: this.digest(), incarnation: this.incarnation, status: leaving ? 'left' : 'alive' }
        // Leaving: our signed left record. Just refuted: our new signed alive record.
        if (leaving || this.incarnation !== before) ack.self = self
        out.push({ type: 'send', to: from, msg: ack })
        if (!leaving && (!this.table.has(from) || msg.digest !== this.digest())) this.maybeDigestSync(from, out)
        if (!leaving) this.tellIfSuspected(from, out)
        break
      }
      case 'ack':
        this.onAck(from, msg, out)
        break
      case 'ping-req':
        this.onPingReq(from, msg.seq, msg.target, out)
        break
      case 'indirect-ack': {
        const p = this.probe
        if (p && p.seq === msg.seq && p.target === msg.target && p.helpers.includes(from)) this.probeSucceeded(p, false, out)
        break
      }
      case 'nack': {
        const p = this.probe
        if (p && p.seq === msg.seq && p.target === msg.target && p.helpers.includes(from)) p.nacks.add(from)
        break
      }
      case 'update':
        for (const rec of msg.records.slice(0, LIMITS.maxRecordsPerUpdate)) this.applyRecord(rec, from, 'gossip', out)
        break
      case 'sync':
        this.onSync(from, msg, out)
        break
      default:
        assertNever(msg)
    }
  }

  private onAck(from: MemberId, msg: Extract<Message, { type: 'ack' }>, out: Decision[]): void {
    if (this.table.has(from)) this.reportedDigests.set(from, msg.digest)
    if (msg.self && msg.self.id === from) this.applyRecord(msg.self, from, 'gossip', out)
    const p = this.probe
    const check = this.checks.get(msg.seq)
    if (p && p.seq === msg.seq && p.target === from) {
      this.probeSucceeded(p, true, out)
    } else if (check && check.target === from) {
      this.checks.delete(msg.seq)
      this.markDirect(from, 'ack')
      this.tellIfSuspected(from, out)
    } else {
      const r = this.relays.get(msg.seq)
      if (r && r.target === from) {
        this.relays.delete(msg.seq)
        out.push({ type: 'send', to: r.requester, msg: { type: 'indirect-ack', seq: r.requesterSeq, target: r.target } })
      }
    }
    if (this.state !== 'leaving' && msg.digest !== this.digest()) this.maybeDigestSync(from, out)
  }

  private onPingReq(from: MemberId, seq: number, target: MemberId, out: Decision[]): void {
    if (this.state !== 'joined' || target === this.id || target === from) return
    if (this.relays.size >= LIMITS.maxPendingRelays) {
      out.push({ type: 'send', to: from, msg: { type: 'nack', seq, target } })
      return
    }
    const mySeq = ++this.seq
    this.relays.set(mySeq, { requester: from, requesterSeq: seq, target, deadlineMs: this.now + this.scaled(this.config.probeTimeoutMs) })
    out.push({ type: 'send', to: target, msg: { type: 'ping', seq: mySeq, requester: from, digest: this.digest() } })
  }

  private onSendFailed(to: MemberId, msg: Message, reason: 'refused' | 'unreachable' | 'timeout', out: Decision[]): void {
    if (msg.type !== 'ping') return
    const p = this.probe
    if (p && p.seq === msg.seq && p.target === to && p.phase === 'direct') {
      if (reason === 'refused') {
        // The host answered that nothing listens: strong evidence, no path doubt to clear up.
        this.probe = undefined
        this.markDirect(to, 'refused')
        this.stats.probeFailures++
        this.suspectFromProbe(to, true, [{ by: this.id, outcome: 'refused', atMs: this.now }], out, p.afterClose)
      } else {
        this.startIndirect(p, reason === 'timeout' ? 'timeout' : 'unreachable', out)
      }
      return
    }
    const check = this.checks.get(msg.seq)
    if (check && check.target === to) {
      this.checks.delete(msg.seq)
      this.markDirect(to, reason)
      if (reason === 'refused') this.suspectFromProbe(to, true, [{ by: this.id, outcome: 'refused', atMs: this.now }], out)
      return
    }
    const r = this.relays.get(msg.seq)
    if (r && r.target === to) {
      this.relays.delete(msg.seq)
      out.push({ type: 'send', to: r.requester, msg: { type: 'nack', seq: r.requesterSeq, target: r.target } })
    }
  }

  private onConnected(peer: MemberId, out: Decision[]): void {
    if (peer === this.id) return
    if (this.connectedPeers.size < LIMITS.maxMembers) this.connectedPeers.add(peer)
    const s = this.table.get(peer)?.rec.status
    if (s === undefined || s === 'failed') this.onDiscovered(peer, out)
  }

  private onDisconnected(peer: MemberId, out: Decision[]): void {
    this.connectedPeers.delete(peer)
    if (this.state !== 'joined' || !this.isProbeable(peer)) return
    // A closed connection is no verdict (it may be a restart or a network blip), but it is a
    // reason to probe now instead of waiting for the round-robin (fast crash detection).
    if (this.closeTriggered.size < MAX_URGENT) this.closeTriggered.add(peer)
    this.probeSoon(peer, out)
  }

  /**
   * Strong evidence heard second-hand (a refused connection): check it ourselves at once, beside the
   * probe schedule (which may be busy or slowed by local health). A crashed process refuses us too,
   * which makes our verdict first-hand (the shorter window) instead of waiting out the second-hand
   * one; a live member answers, and the ping tells it it is suspected so it can refute.
   */
  private checkClaim(id: MemberId, incarnation: number, out: Decision[]): void {
    if (this.state !== 'joined' || !this.isProbeable(id) || this.checks.size >= MAX_CHECKS) return
    for (const c of this.checks.values()) if (c.target === id) return
    const seq = ++this.seq
    this.checks.set(seq, { target: id, deadlineMs: this.now + this.scaled(this.config.probeTimeoutMs) + this.connectAllowanceMs(id) })
    out.push({ type: 'send', to: id, msg: { type: 'ping', seq, digest: this.digest(), suspect: incarnation } })
  }

  /** Probe `peer` next, and now if no probe is in flight; at most once per probe period per peer. */
  private probeSoon(peer: MemberId, out: Decision[]): void {
    const last = this.lastUrgentMs.get(peer) ?? -Infinity
    if (this.now - last < this.config.probeIntervalMs) return
    if (this.lastUrgentMs.size >= MAX_CANDIDATES) this.lastUrgentMs.clear()
    this.lastUrgentMs.set(peer, this.now)
    if (this.urgent.length < MAX_URGENT && !this.urgent.includes(peer)) this.urgent.push(peer)
    if (!this.probe) this.startProbe(out)
  }

  /**
   * A member announced its own alive record on the segment (mDNS). Taken like that member's own
   * broadcast, but only with its valid signature, since no authenticated channel carried it: a
   * restarted member is then alive everywhere from one packet, before any connection to it opens,
   * and a lab starting at once fills its views from the announcements (fault lab, N = 20, 3 runs
   * each: formed in 3.5–3.9 s, against 7.2–11.3 s). A record we already hold, or a staler one, is
   * ignored unchecked.
   */
  private onAnnounced(rec: MemberRecord, out: Decision[]): void {
    if (this.state !== 'joined' && this.state !== 'joining') return
    if (rec.id === this.id || rec.status !== 'alive' || !rec.meta) return
    const cur = this.table.get(rec.id)
    if (cur && compareClaims(cur.rec, rec) !== 'newer') return
    const tomb = this.tombstones.get(rec.id)
    if (tomb && rec.incarnation <= tomb.incarnation) return
    if (!this.auth.verify(rec)) return this.reject(rec, rec.id, 'announced alive record lacks the member\'s own signature', out)
    const before = cur?.rec.status
    this.applyRecord(rec, rec.id, 'gossip', out)
    // Its join syncs still tell everyone by broadcast (onSync), for members that missed the packet.
    if ((before === 'failed' || before === 'left' || before === 'suspect') && this.table.get(rec.id)?.rec.status === 'alive') {
      if (this.announcedReturns.size >= MAX_URGENT) this.announcedReturns.clear()
      this.announcedReturns.add(rec.id)
    }
  }

  private onDiscovered(peer: MemberId, out: Decision[], deferred = false): void {
    if (peer === this.id) return
    const known = this.table.get(peer)?.rec.status
    // Joining, a member we already hold (from its announcement) is still whom our join syncs with.
    if ((known === 'alive' || known === 'suspect') && this.state !== 'joining') return
    // A member we hold down, found again, has usually just restarted, and every member finds it at
    // the same moment. Wait a random part of a probe period first: the members its join syncs
    // reach announce its new life to everyone (onSync), and then there is nothing left to sync.
    if (!deferred && this.state === 'joined' && (known === 'failed' || known === 'left')) {
      if (!this.deferredDiscoveries.has(peer) && this.deferredDiscoveries.size < MAX_URGENT) {
        this.deferredDiscoveries.set(peer, this.now + this.random.next() * this.config.probeIntervalMs)
      }
      return
    }
    if (!this.candidates.has(peer)) {
      if (this.candidates.size >= MAX_CANDIDATES) this.candidates.delete(this.candidates.keys().next().value!)
      this.candidates.set(peer, -Infinity)
    }
    if (this.state !== 'joined' && this.state !== 'joining') return
    const last = this.candidates.get(peer)!
    if (this.now - last < this.config.joinRetryMs) return
    // A whole lab starting at once discovers everyone at once: a sync with each would open N²
    // connections (a Noise handshake each) while the machines are busiest, and starve the probes.
    // Joining: at most JOIN_FANOUT syncs per attempt (retries pick again). Joined: at most one
    // discovery sync per probe period; the newcomer's own join and announcement reach everyone
    // else, and the reconnect loop retries the candidates left over.
    if (this.state === 'joining') {
      if (this.joinSyncsThisAttempt >= JOIN_FANOUT) return
      this.joinSyncsThisAttempt++
    } else {
      if (this.now - this.lastDiscoverySyncMs < this.config.probeIntervalMs) return
      this.lastDiscoverySyncMs = this.now
    }
    this.candidates.set(peer, this.now)
    this.sendSync(peer, true, true, out)
  }

  // -------------------------------------------------------------------------------------------
  // Anti-entropy (push-pull)

  private fullState(): { records: MemberRecord[]; tombstones: Tombstone[] } {
    const records: MemberRecord[] = []
    for (const e of this.table.values()) records.push(e.rec)
    const tombstones: Tombstone[] = []
    for (const [id, t] of this.tombstones) tombstones.push({ id, incarnation: t.incarnation })
    return { records, tombstones }
  }

  private sendSync(to: MemberId, withState: boolean, join: boolean, out: Decision[]): void {
    const msg: SyncMessage = { type: 'sync', digest: this.digest(), reply: true }
    if (join) msg.join = true
    if (withState) Object.assign(msg, this.fullState())
    this.stats.syncsStarted++
    out.push({ type: 'send', to, msg })
  }

  private maybeDigestSync(peer: MemberId, out: Decision[]): void {
    if (this.now - this.lastDigestSyncMs < this.config.syncOnDigestMismatchMinMs) return
    this.lastDigestSyncMs = this.now
    this.sendSync(peer, false, false, out)
  }

  private periodicSync(out: Decision[]): void {
    this.nextSyncAtMs = this.now + this.config.syncIntervalMs * (0.75 + 0.5 * this.random.next())
    const [peer] = this.pickMembers(1, new Set([this.id]), ['alive'])
    if (peer !== undefined) this.sendSync(peer, false, false, out)
  }

  private reconnect(out: Decision[]): void {
    this.nextReconnectAtMs = this.now + this.config.reconnectIntervalMs
    // Failed members may be behind a healed partition; candidates may have been unreachable.
    const nFailed = this.failed.size
    let nCandidates = 0
    for (const id of this.candidates.keys()) if (!this.table.has(id)) nCandidates++
    const total = nFailed + nCandidates
    if (total === 0) return
    let k = Math.floor(this.random.next() * total)
    let peer: MemberId | undefined
    if (k < nFailed) {
      for (const id of this.failed) if (k-- === 0) { peer = id; break }
    } else {
      k -= nFailed
      for (const id of this.candidates.keys()) if (!this.table.has(id) && k-- === 0) { peer = id; break }
    }
    // Digest first: most attempts go to hosts that are still gone, so they should cost little.
    // A reachable peer with a different view answers with its state and the push-pull follows.
    if (peer !== undefined) this.sendSync(peer, false, false, out)
  }

  private onSync(from: MemberId, msg: SyncMessage, out: Decision[]): void {
    if (this.state === 'leaving') return
    const hadState = msg.records !== undefined
    const before = this.table.get(from)?.rec.status
    if (msg.records) for (const rec of msg.records) this.applyRecord(rec, from, 'sync', out)
    if (msg.tombstones) for (const t of msg.tombstones) this.applyTombstone(t, from, out)
    // A member we held down tells us itself that it is back (a restart's join, or its first sync
    // after a freeze): tell everyone its new life now, over the broadcast mesh it is not part of
    // (every member that held it failed has hung up on it, so its own broadcast reached no one),
    // instead of each member finding it by discovery or anti-entropy (a sync each, about one a
    // second: a frozen member of 10 was seen alive by all only 1.0–1.9 s after it woke). A member
    // we only suspected still has its connections, and its own refutation reaches everyone: only
    // its join (a restart) is announced, not every sync it makes (many, in a storm of suspicions).
    const announcedReturn = msg.join === true && this.announcedReturns.delete(from)
    if (before === 'failed' || before === 'left' || (msg.join && (before === 'suspect' || announcedReturn))) {
      const rec = this.table.get(from)?.rec
      if (rec?.status === 'alive' && this.state === 'joined') out.push({ type: 'broadcast', msg: { type: 'update', records: [rec] } })
    }
    if (hadState) {
      this.candidates.delete(from)
      if (this.state === 'joining' && this.table.size > 1) this.becomeJoined(out)
    }
    if (!msg.reply) return
    if (msg.join || this.digest() !== msg.digest) {
      const reply: SyncMessage = { type: 'sync', digest: this.digest(), reply: !hadState, ...this.fullState() }
      out.push({ type: 'send', to: from, msg: reply })
    }
  }

  private applyTombstone(t: Tombstone, from: MemberId, out: Decision[]): void {
    if (t.id === this.id) {
      this.onClaimAboutSelf({ id: t.id, incarnation: t.incarnation, status: 'failed' }, from, out)
      return
    }
    const e = this.table.get(t.id)
    if (e) {
      // Converge removal of members everyone holds down; a member we hold alive refutes by itself.
      if ((e.rec.status === 'failed' || e.rec.status === 'left') && e.rec.incarnation <= t.incarnation) {
        this.removeMember(t.id, out, { rule: 'tombstone-expired', observer: from, source: from, atMs: this.now })
      }
      return
    }
    const known = this.tombstones.get(t.id)
    if (!known || known.incarnation < t.incarnation) this.addTombstone(t.id, t.incarnation)
  }

  // -------------------------------------------------------------------------------------------
  // Merging records (MODEL.md §2: precedence and authority)

  private reject(rec: MemberRecord, from: MemberId, reason: string, out: Decision[]): void {
    this.stats.recordsRejected++
    out.push({ type: 'log', level: 'warn', msg: `ignored record: ${reason}`, data: { id: rec.id, status: rec.status, incarnation: rec.incarnation, from } })
  }

  private applyRecord(rec: MemberRecord, from: MemberId, via: 'gossip' | 'sync', out: Decision[]): void {
    if (rec.id === this.id) {
      this.onClaimAboutSelf(rec, from, out)
      return
    }
    const tomb = this.tombstones.get(rec.id)
    if (tomb && rec.incarnation <= tomb.incarnation) return // removed: stale news cannot resurrect it
    const cur = this.table.get(rec.id)
    if (!cur) {
      if (!rec.meta) return // cannot learn a member without its own self-statement
      if (this.table.size >= LIMITS.maxMembers) return this.reject(rec, from, `member limit ${LIMITS.maxMembers} reached`, out)
      if (!this.auth.verify(rec)) return this.reject(rec, from, 'self-statement signature invalid', out)
      if (tomb) this.tombstones.delete(rec.id)
      this.adopt(undefined, rec, from, via, out)
      return
    }
    const cmp = compareClaims(cur.rec, rec)
    if (cmp === 'older') {
      // A first-hand accusation we know to be stale (the member left, or refuted at a higher
      // incarnation): tell the accuser at once, before its own timer turns the stale suspicion into
      // a failure (a leave must never be reported as one).
      if (via === 'gossip' && (rec.status === 'suspect' || rec.status === 'failed') && rec.evidence?.observer === from) this.correct(from, cur.rec, out)
      return
    }
    if (cmp === 'same') {
      // Someone else announced the failure we are about to announce: ours is redundant.
      if (rec.status === 'failed' && via === 'gossip') this.pendingFailed.delete(rec.id)
      // A confirmation counts only first-hand: the authenticated sender is the observer. Relayed
      // copies (sync) and claimed observers cannot be checked, so they cannot shorten our timer.
      if (rec.status === 'suspect' && via === 'gossip') {
        const s = this.suspicions.get(rec.id)
        if (s && s.incarnation === rec.incarnation) {
          s.heardOther = true
          if (rec.evidence && rec.evidence.observer === from) this.addConfirmation(s, from, rec.evidence.strength === 'strong')
        }
      }
      return
    }
    if (needsSelfProof(rec, cur.rec.incarnation)) {
      if (!rec.meta || !this.auth.verify(rec)) return this.reject(rec, from, `${rec.status} at incarnation ${rec.incarnation} lacks the member's own signature`, out)
    }
    if (rec.status === 'failed' && (cur.rec.status === 'alive' || cur.rec.status === 'suspect')) {
      this.failedClaim(cur, rec, from, via, out)
      return
    }
    this.adopt(cur, rec, from, via, out)
  }

  /**
   * Another member says X failed while we hold X up. We do not adopt that verdict blindly (any
   * peer could otherwise get a live member declared failed): it starts or confirms our suspicion
   * and caps its remaining time at the strong-evidence window, so X always has that long to refute.
   */
  private failedClaim(cur: Entry, rec: MemberRecord, from: MemberId, via: 'gossip' | 'sync', out: Decision[]): void {
    const windowMs = this.refutationWindowMs(false)
    const s = this.suspicions.get(rec.id)
    if (cur.rec.status === 'suspect' && s && s.incarnation === rec.incarnation) {
      s.failedHeard = true
      if (via === 'gossip') this.addConfirmation(s, from, false)
      s.deadlineMs = Math.min(s.deadlineMs, this.now + windowMs)
      return
    }
    const evidence: Evidence = rec.evidence
      ? { ...rec.evidence, source: from, atMs: this.now }
      : { rule: 'failed-gossip', observer: from, source: from, atMs: this.now }
    const suspect: MemberRecord = { ...rec, status: 'suspect', evidence }
    this.adopt(cur, suspect, from, via, out)
    const started = this.suspicions.get(rec.id)
    if (started) {
      started.deadlineMs = Math.min(started.deadlineMs, this.now + windowMs)
      started.failedHeard = true
    }
  }

  /** Take a newer record for another member; emit the event its transition means. */
  private adopt(cur: Entry | undefined, rec: MemberRecord, from: MemberId, via: 'gossip' | 'sync', out: Decision[]): void {
    const old = cur?.rec
    let stored = rec
    if (!rec.meta && old && old.incarnation === rec.incarnation) {
      // A suspect/failed claim rides on the alive statement we already hold for that incarnation.
      stored = { ...rec, meta: old.meta }
      if (old.sig !== undefined) stored.sig = old.sig
    }
    const relayed: Evidence = rec.evidence
      ? { ...rec.evidence, source: from, atMs: this.now }
      : {
        rule: via === 'sync' ? 'sync' : rec.status === 'left' ? 'leave-announced' : rec.status === 'alive' ? 'alive-record' : rec.status === 'suspect' ? 'suspect-gossip' : 'failed-gossip',
        observer: rec.status === 'alive' || rec.status === 'left' ? rec.id : from, source: from, atMs: this.now,
      }
    let type: MembershipEventType
    switch (rec.status) {
      case 'alive':
        type = !old || old.status === 'left' ? 'member:joined' : old.status === 'alive' ? 'member:updated' : 'member:recovered'
        if (old && (old.status === 'suspect' || old.status === 'failed')) relayed.rule = 'refuted'
        this.suspicions.delete(rec.id)
        if (old?.status === 'left' || old?.status === 'failed' || !old) this.insertProbeTarget(rec.id)
        break
      case 'suspect': {
        type = 'member:suspected'
        const originator = rec.evidence?.observer ?? from
        const strong = rec.evidence?.strength === 'strong'
        this.suspicions.set(rec.id, this.newSuspicion(rec.id, rec.incarnation, strong, originator, false, relayed))
        if (!old) this.insertProbeTarget(rec.id)
        else if (strong) this.checkClaim(rec.id, rec.incarnation, out)
        break
      }
      case 'failed':
        type = 'member:failed'
        this.suspicions.delete(rec.id)
        break
      case 'left': {
        type = 'member:left'
        // We accused it first-hand and told everyone; now we know it left: tell everyone that too,
        // so those who took our word do not turn a leave into a failure.
        const ours = this.suspicions.get(rec.id)?.independent || (old?.status === 'failed' && old.evidence?.observer === this.id)
        if (ours) out.push({ type: 'broadcast', msg: { type: 'update', records: [rec] } })
        this.suspicions.delete(rec.id)
        break
      }
      default:
        assertNever(rec.status)
    }
    this.setRecord(stored, out, type, relayed)
    if (this.state === 'joining' && this.table.size > 1 && via === 'sync') this.becomeJoined(out)
  }

  /** Send `to` our record of a member, at most once per probe period per (recipient, member). */
  private correct(to: MemberId, rec: MemberRecord, out: Decision[]): void {
    const key = `${to}\n${rec.id}`
    const last = this.lastToldMs.get(key) ?? -Infinity
    if (this.now - last < this.config.probeIntervalMs) return
    if (this.lastToldMs.size >= MAX_CANDIDATES) this.lastToldMs.clear()
    this.lastToldMs.set(key, this.now)
    out.push({ type: 'send', to, msg: { type: 'update', records: [rec] } })
  }

  /** Someone said something about us. Refute what is false (only we may: SWIM §4.2). */
  private onClaimAboutSelf(rec: MemberRecord, from: MemberId, out: Decision[]): void {
    if (this.state !== 'joined' && this.state !== 'joining') return
    if (!mustRefute(this.incarnation, rec)) return
    if ((rec.status === 'alive' || rec.status === 'left') && !this.auth.verify(rec)) {
      return this.reject(rec, from, `forged ${rec.status} statement about ourselves`, out)
    }
    const next = refutationIncarnation(this.incarnation, rec.incarnation)
    if (next > LIMITS.maxIncarnation) return this.reject(rec, from, 'incarnation beyond limit', out)
    this.incarnation = next
    this.stats.refutations++
    if (rec.status === 'suspect' || rec.status === 'failed') this.raiseHealth(1) // being suspected hints we are slow (Lifeguard)
    out.push({ type: 'persist-incarnation', incarnation: this.incarnation })
    this.putSelf('alive', out, { rule: 'refuted', observer: this.id, source: from, atMs: this.now })
    out.push({ type: 'broadcast', msg: { type: 'update', records: [this.table.get(this.id)!.rec] } })
    // Declared failed: every member that held us so has hung up on us, so our broadcast may reach
    // no one (we are in nobody's mesh). Hand the new life to the member that told us, as a join:
    // like a restart, it then tells everyone over its own mesh (onSync).
    if (rec.status === 'failed' && from !== this.id && this.table.has(from)) this.sendSync(from, true, true, out)
  }

  // -------------------------------------------------------------------------------------------
  // Table bookkeeping: every change goes through setRecord/removeMember, which keep the digest
  // and the tombstone queue right and emit exactly one event.

  private setRecord(rec: MemberRecord, out: Decision[], type: MembershipEventType, evidence: Evidence): void {
    const cur = this.table.get(rec.id)
    const old = cur?.rec
    if (old) this.digestAcc.remove(memberTerm(idHash(old.id), old.incarnation, digestClass(old.status)))
    this.digestAcc.add(memberTerm(idHash(rec.id), rec.incarnation, digestClass(rec.status)))
    const statusChanged = !old || old.status !== rec.status
    // Alive records carry no evidence and are stored as received, so the simulator's nodes share
    // one immutable object per record; other states keep the evidence behind the verdict.
    let stored = rec
    if (rec.status !== 'alive' && rec.evidence !== evidence) stored = { ...rec, evidence }
    else if (rec.status === 'alive' && rec.evidence !== undefined) {
      stored = { ...rec }
      delete stored.evidence
    }
    if (cur) {
      cur.rec = stored
      if (statusChanged) cur.sinceMs = Math.floor(this.now)
    } else {
      // Whole milliseconds: V8 keeps small integers unboxed, which matters for 10,000-member views.
      this.table.set(rec.id, { rec: stored, sinceMs: Math.floor(this.now), lastRttMs: -1, lastDirect: undefined })
    }
    if (rec.status === 'failed' && rec.id !== this.id) this.failed.add(rec.id)
    else this.failed.delete(rec.id)
    if (statusChanged && rec.id !== this.id && (rec.status === 'failed' || rec.status === 'left')) {
      this.expiryQueue.push({ id: rec.id, incarnation: rec.incarnation, atMs: this.now })
    }
    this.emit(type, rec, old?.status ?? null, evidence, out)
  }

  private removeMember(id: MemberId, out: Decision[], evidence: Evidence): void {
    const e = this.table.get(id)
    if (!e) return
    this.table.delete(id)
    this.suspicions.delete(id)
    this.inconclusive.delete(id)
    this.failed.delete(id)
    this.reportedDigests.delete(id)
    this.digestAcc.remove(memberTerm(idHash(id), e.rec.incarnation, digestClass(e.rec.status)))
    this.addTombstone(id, e.rec.incarnation)
    this.emit('member:removed', { ...e.rec }, e.rec.status, evidence, out, 'removed')
  }

  private addTombstone(id: MemberId, incarnation: number): void {
    this.tombstones.delete(id)
    if (this.tombstones.size >= LIMITS.maxTombstones) this.tombstones.delete(this.tombstones.keys().next().value!)
    this.tombstones.set(id, { incarnation, expiresAtMs: this.now + this.config.tombstoneRetentionMs })
  }

  private expireTombstones(out: Decision[]): void {
    const q = this.expiryQueue
    while (this.expiryHead < q.length && this.now >= q[this.expiryHead].atMs + this.config.tombstoneTimeoutMs) {
      const item = q[this.expiryHead++]
      const e = this.table.get(item.id)
      if (e && (e.rec.status === 'failed' || e.rec.status === 'left') && e.rec.incarnation === item.incarnation && e.sinceMs === Math.floor(item.atMs)) {
        this.removeMember(item.id, out, { rule: 'tombstone-expired', observer: this.id, atMs: this.now, timeoutMs: this.config.tombstoneTimeoutMs })
      }
    }
    if (this.expiryHead > 1024 && this.expiryHead * 2 > q.length) {
      this.expiryQueue = q.slice(this.expiryHead)
      this.expiryHead = 0
    }
    for (const [id, t] of this.tombstones) {
      if (this.now < t.expiresAtMs) break
      this.tombstones.delete(id)
    }
  }

  private emit(type: MembershipEventType, rec: MemberRecord, from: MemberStatus | null, evidence: Evidence, out: Decision[], to?: 'removed'): void {
    const event: MembershipEvent = {
      type, id: rec.id, name: rec.meta?.name ?? '', from, to: to ?? rec.status, incarnation: rec.incarnation, atMs: this.now, evidence,
    }
    out.push({ type: 'event', event })
  }

  private afterInput(out: Decision[]): void {
    const d = this.digest()
    if (d !== this.lastDigest) {
      this.lastDigest = d
      out.push({ type: 'event', event: { type: 'view:changed', id: this.id, name: this.meta.name, from: null, to: this.state, incarnation: this.incarnation, atMs: this.now, digest: d } })
    }
  }

  // -------------------------------------------------------------------------------------------
  // Randomness helpers (all through the injected Random)

  private insertProbeTarget(id: MemberId): void {
    // SWIM §4.3: new members go to a random position of the current round.
    if (this.probeOrder.length > 2 * this.table.size + 64) {
      this.rebuildProbeOrder()
      return
    }
    // Append, then swap with a random slot of the rest of this round: O(1) instead of a splice.
    const order = this.probeOrder
    order.push(id)
    const lo = this.probeIndex
    const pos = lo + Math.floor(this.random.next() * (order.length - lo))
    const last = order.length - 1
    ;[order[pos], order[last]] = [order[last], order[pos]]
  }

  private shuffle<T>(a: T[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random.next() * (i + 1))
      const t = a[i]
      a[i] = a[j]
      a[j] = t
    }
  }

  private sample<T>(a: T[], k: number): T[] {
    const copy = a.slice()
    this.shuffle(copy)
    return copy.slice(0, k)
  }

  /** Up to k distinct members in the given states, excluding some; cheap for large groups. */
  private pickMembers(k: number, exclude: Set<MemberId>, states: MemberStatus[]): MemberId[] {
    const picked: MemberId[] = []
    if (k <= 0) return picked
    const ok = (id: MemberId) => !exclude.has(id) && !picked.includes(id) && states.includes(this.table.get(id)?.rec.status as MemberStatus)
    const pool = this.probeOrder
    if (pool.length > 64) {
      for (let tries = 0; tries < 16 * k && picked.length < k; tries++) {
        const id = pool[Math.floor(this.random.next() * pool.length)]
        if (ok(id)) picked.push(id)
      }
      if (picked.length === k) return picked
    }
    const all: MemberId[] = []
    for (const e of this.table.values()) if (ok(e.rec.id)) all.push(e.rec.id)
    return picked.concat(this.sample(all, k - picked.length))
  }
}
