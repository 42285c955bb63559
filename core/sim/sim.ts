// The simulator (after TigerBeetle's VOPR): many SwimInstances in one process on a virtual
// clock, a seeded network and a seeded fault schedule. It is the protocol's shell, as the real
// node is: it ticks each node at exactly its nextDeadlineMs(), carries out its decisions (send,
// broadcast, persist-incarnation, events) and feeds back what the network did (send-failed,
// connected, disconnected). One seed replays a run exactly.
//
// Shell model, as documented in the brief and README.md:
//  - unicast: per-message delay, loss, duplication; dropped by partitions and link faults;
//    to a dead process on a live host: send-failed 'refused' after ~1 RTT; to a vanished host
//    or across a partition: silence (the protocol's timeouts must cope).
//  - connections: A and B are connected while they exchanged a unicast in the last
//    CONNECTION_IDLE_MS (bounded recent-peers map per node). A new connection gives both ends
//    `connected`; a process crash on a live host gives its connected peers `disconnected`
//    after ~RTT/2; a vanished host gives nobody any notice.
//  - stall: the node processes nothing; its inputs queue and are delivered in order when it
//    wakes (its overdue tick first, as Node runs timers before I/O), at the wake-up time.
//  - restart: a new SwimInstance for the same id, incarnation = persisted + 1.

import { SimKeyring } from '../protocol/auth.js'
import { suspicionMinMs } from '../protocol/config.js'
import { SwimInstance, type SwimStats } from '../protocol/swim.js'
import type { Authenticator, Input, MemberMeta, MemberRecord, MembershipEvent, Message, SelfState, SyncMessage, UpdateMessage } from '../protocol/types.js'
import { agreementBoundMs, crashDetectBoundMs, evaluate, ResurrectionMonitor, toleranceMs } from './checks.js'
import { GOSSIP_D, messageBytes, Network, type LinkFault } from './network.js'
import { DEFAULT_PARTITION_S, replayCommand, resolveOptions, type ResolvedOptions, type SimOptions } from './options.js'
import { EventQueue, type Timed } from './queue.js'
import { deriveSeed, Rng, Stream } from './random.js'
import { detectionStats, type Detection, type FalseFailure, type FaultRecord, type SimSummary, type Violation } from './summary.js'

/** A connection with no unicast exchange for this long counts as closed (no `disconnected` for it). */
const CONNECTION_IDLE_MS = 30_000
/** Recent-peers map bound per node: a node talks to a few peers per period; oldest dropped first. */
const RECENT_PEERS_MAX = 256
/** Connection timestamps are refreshed at most this often (keeps the per-message cost down; 1 s of 30 s). */
const TOUCH_GRANULARITY_MS = 1000
/** A stopped node's process exits this long after its leave grace ends (the shell's own shutdown). */
const STOP_SLACK_MS = 50
/** Inputs queued for a stalled node (its socket buffers); beyond this, new ones are dropped. */
const PENDING_MAX = 65_536
/** Ticks of one node at one instant before we call it a timer loop in the protocol. */
const SAME_TIME_TICK_LIMIT = 1000
/** How often the run loop reports progress, in events. */
const PROGRESS_EVERY = 1 << 16
/** False failures listed individually in the summary. */
const MAX_LISTED = 50
/** Restarted nodes stay down for this many suspicion floors (1–3 ×): sometimes detected, sometimes not. */
const RESTART_DOWN_MULT: [number, number] = [1, 3]
/** Initial (non-preformed) nodes start over the first min(this, 10% of the run). */
const FORMATION_MS = 2000

// Event kinds (numbers, so the dispatch is a dense switch).
const TICK = 0
const DELIVER = 1
const BCAST = 2
const SEND_FAILED = 3
const CONNECTED = 4
const DISCONNECTED = 5
const WAKE = 6
const ACTION = 7
const CHECK = 8

class Ev implements Timed {
  seq = 0
  constructor(
    public t: number,
    public kind: number,
    public node: number,
    public peer: number,
    public msg: Message | null,
    public gen: number,
    public fn: (() => void) | null,
    /** For messages: the size, computed once at send. */
    public bytes = 0,
  ) {}
}

type Proc = 'unstarted' | 'running' | 'crashed' | 'stopped'

class SimNode {
  swim: SwimInstance | null = null
  proc: Proc = 'unstarted'
  /** After the process died: does the host still answer (refused) or not (silence)? */
  hostUp = false
  life = 0
  /** Incarnation this life started at; claims below it are about an earlier life. */
  lifeInc = 0
  /** The simulated disk: last persisted incarnation. */
  persisted = 0
  stalledUntil = -1
  lastWakeMs = -Infinity
  tickDue = false
  pending: Input[] = []
  tickAt = Infinity
  tickGen = 0
  lastTickMs = -1
  sameTimeTicks = 0
  readonly recent = new Map<number, number>()
  digest = ''
  selfState: SelfState = 'idle'
  leaving = false
  leaveAtMs = -1
  leaveInc = -1
  /** Running, not leaving, and joined: an observer whose view counts. */
  eligible = false
  /** Members this node holds suspect (kept from its events). */
  readonly suspects = new Set<number>()
  upSinceMs = -1
  upTotalMs = 0
  /** Stalls beyond tolerance: failures of this node at ≤ inc from fromMs on are forgiven. */
  readonly stallExempt: { fromMs: number; inc: number; ms: number }[] = []
  stallRec: FaultRecord | null = null
  constructor(
    readonly idx: number,
    readonly id: string,
    readonly meta: MemberMeta,
  ) {}
}

interface Tracker {
  rec: FaultRecord
  det: Detection
  target: number
  startMs: number
  cond: (to: string, incarnation: number) => boolean
  seen: Uint8Array
  count: number
  done: boolean
}

interface SymPartition {
  fault: LinkFault
  rec: FaultRecord
  beyondTolerance: boolean
  incAtHeal: Float64Array | null
}

interface Waiting {
  sinceMs: number
  resolve: (agreedAtMs: number) => void
}

export class SimError extends Error {
  override name = 'SimError'
}

export class Simulation {
  readonly o: ResolvedOptions
  private now = 0
  private readonly endMs: number
  private readonly q: EventQueue<Ev>
  private readonly nodes: SimNode[] = []
  private readonly idIndex = new Map<string, number>()
  private readonly net: Network
  private readonly faultRng: Rng
  private readonly keyring: SimKeyring
  private readonly verified = new WeakSet<MemberRecord>()
  private readonly members: number
  private readonly tolerance: number
  private readonly crashBound: number
  private readonly agreeBound: number

  // Measurements
  private readonly faults: FaultRecord[] = []
  private readonly trackers = new Map<number, Tracker[]>()
  private openTrackers: Tracker[] = []
  private eligibleCount = 0
  private readonly waiting: Waiting[] = []
  private readonly symPartitions: SymPartition[] = []
  private lastFaultEndMs = 0
  private agreement: SimSummary['agreement'] = { lastFaultEndMs: 0, agreedAtMs: null, afterLastFaultMs: null, atEnd: false }
  private readonly falseFailures: FalseFailure[] = []
  private falseFailureCount = 0
  private exemptCount = 0
  private falseSuspicionEvents = 0
  private readonly falseSuspicionKeys = new Set<string>()
  private readonly streamed: Violation[] = []
  private readonly resurrection = new ResurrectionMonitor()
  private readonly logs: Record<string, number> = {}
  private readonly eventCounts: Record<string, number> = {}
  private spuriousStalls = 0
  private readonly protocolTotals: Record<string, number> = {}

  // Traffic
  private sentMsgs = 0
  private sentBytes = 0
  private recvMsgs = 0
  private recvBytes = 0
  private readonly sentByType: Record<string, number> = {}

  // Run bookkeeping
  private events = 0
  private handles = 0
  private staleTicks = 0
  private setupWallMs = 0
  /** While building a preformed group: decisions are not carried out, events not observed. */
  private quiet = false
  private preformRecords: MemberRecord[] = []

  constructor(options: SimOptions) {
    this.o = resolveOptions(options)
    const o = this.o
    this.endMs = o.seconds * 1000
    this.q = new EventQueue<Ev>(o.queueLimit)
    this.members = o.nodes + o.join
    this.net = new Network(new Rng(deriveSeed(o.seed, Stream.network)), o.loss, o.dup, o.delayMs, this.members)
    this.faultRng = new Rng(deriveSeed(o.seed, Stream.faults))
    this.keyring = new SimKeyring(o.seed)
    this.tolerance = toleranceMs(o.cfg, this.members)
    this.crashBound = crashDetectBoundMs(o.cfg, this.members)
    this.agreeBound = agreementBoundMs(o.cfg, this.members)
    const width = String(this.members - 1).length
    for (let i = 0; i < this.members; i++) {
      const id = `n${String(i).padStart(width, '0')}`
      this.nodes.push(new SimNode(i, id, { name: id, addrs: [`/sim/${i}`], tags: {} }))
      this.idIndex.set(id, i)
    }
    for (const t of ['ping', 'ack', 'ping-req', 'indirect-ack', 'nack', 'update', 'sync', 'broadcast']) this.sentByType[t] = 0
  }

  // -------------------------------------------------------------------------------------------
  // Setup

  private push(t: number, kind: number, node: number, peer: number, msg: Message | null, gen = 0, fn: (() => void) | null = null, bytes = 0): void {
    this.q.push(new Ev(t, kind, node, peer, msg, gen, fn, bytes))
  }

  private at(t: number, fn: () => void): void {
    this.push(t, ACTION, -1, -1, null, 0, fn)
  }

  /** Every record's signature is checked once: records are immutable and shared between nodes. */
  private authFor(id: string): Authenticator {
    const a = this.keyring.forMember(id)
    const cache = this.verified
    return {
      sign: (r) => a.sign(r),
      verify: (r) => {
        if (cache.has(r)) return true
        const ok = a.verify(r)
        if (ok) cache.add(r)
        return ok
      },
    }
  }

  private setup(): void {
    const o = this.o
    const N = o.nodes
    if (o.preformed) this.preform()
    else this.scheduleFormation()

    // The fault schedule: victims are distinct initial nodes; times uniform in the window.
    const fr = this.faultRng
    const S = this.endMs
    const when = () => Math.round(fr.range(o.faultWindow[0] * S, o.faultWindow[1] * S))
    const pool = fr.shuffle([...Array(N).keys()])
    let next = 0
    const take = () => pool[next++]
    const ends: number[] = []
    for (let i = 0; i < o.crash; i++) {
      const n = take()
      const t = when()
      ends.push(t)
      this.at(t, () => this.crashFault(n, true))
    }
    for (let i = 0; i < o.crashSilent; i++) {
      const n = take()
      const t = when()
      ends.push(t)
      this.at(t, () => this.crashFault(n, false))
    }
    for (const s of o.stalls) {
      for (let i = 0; i < s.count; i++) {
        const n = take()
        const t = when()
        ends.push(t + s.ms)
        this.at(t, () => this.stallFault(n, s.ms))
      }
    }
    for (let i = 0; i < o.leave; i++) {
      const n = take()
      const t = when()
      ends.push(t + o.cfg.leaveGraceMs + STOP_SLACK_MS)
      this.at(t, () => this.leaveFault(n))
    }
    for (let i = 0; i < o.restart; i++) {
      const n = take()
      const t = when()
      const down = Math.round(fr.range(RESTART_DOWN_MULT[0], RESTART_DOWN_MULT[1]) * suspicionMinMs(o.cfg, this.members))
      ends.push(t + down)
      this.at(t, () => this.restartFault(n, down))
    }
    for (let i = 0; i < o.join; i++) {
      const n = N + i
      const t = when()
      ends.push(t)
      this.at(t, () => this.joinFault(n))
    }
    const untouched = pool.slice(next)
    for (const p of o.partitions) {
      const t = p.atS !== undefined ? Math.round(p.atS * 1000) : when()
      const d = Math.round((p.forS ?? DEFAULT_PARTITION_S) * 1000)
      ends.push(t + d)
      const fault: LinkFault = { kind: p.kind, a: -1, b: -1, fromMs: t, untilMs: t + d }
      if (p.kind === 'sym') {
        const side = new Uint8Array(this.members)
        const order = fr.shuffle([...Array(this.members).keys()])
        for (let i = 0; i < order.length; i++) side[order[i]] = i < order.length / 2 ? 0 : 1
        fault.side = side
      } else {
        const pair = fr.sample(untouched.length >= 2 ? untouched : [...Array(N).keys()], 2)
        fault.a = pair[0]
        fault.b = pair[1]
      }
      this.at(t, () => this.partitionFault(fault))
    }
    this.lastFaultEndMs = ends.length ? Math.max(...ends) : 0
    this.agreement.lastFaultEndMs = this.lastFaultEndMs
    this.at(this.lastFaultEndMs, () => {
      this.waiting.push({
        sinceMs: this.lastFaultEndMs,
        resolve: (t) => {
          this.agreement.agreedAtMs = t
          this.agreement.afterLastFaultMs = t - this.lastFaultEndMs
        },
      })
    })
    for (let t = 0; t <= this.endMs; t += o.checkIntervalMs) this.push(t, CHECK, -1, -1, null)
  }

  /** Initial nodes start over the first seconds, each joining through 1–3 nodes started before it. */
  private scheduleFormation(): void {
    const rng = new Rng(deriveSeed(this.o.seed, Stream.formation))
    const spread = Math.min(FORMATION_MS, this.endMs / 10)
    const starts = [...Array(this.o.nodes).keys()].map((i) => ({ i, t: i === 0 ? 0 : Math.round(rng.range(0, spread)) }))
    starts.sort((a, b) => a.t - b.t || a.i - b.i)
    starts.forEach(({ i, t }, pos) => {
      const seeds: number[] = []
      const k = Math.min(pos, 1 + rng.int(3))
      while (seeds.length < k) {
        const s = starts[rng.int(pos)].i
        if (!seeds.includes(s)) seeds.push(s)
      }
      this.at(t, () => this.startNode(this.nodes[i], seeds))
    })
  }

  /**
   * Every initial node starts joined with a full view: each joins, then receives one sync that
   * carries every node's signed alive record (one shared array). Decisions made while doing so
   * are dropped: everyone already knows what they would announce.
   */
  private preform(): void {
    const N = this.o.nodes
    this.quiet = true
    this.preformRecords = []
    for (let i = 0; i < N; i++) this.startNode(this.nodes[i], [])
    const records = this.preformRecords
    if (records.length !== N) throw new SimError(`preform: expected ${N} alive records from the joins, got ${records.length}`)
    const msg: SyncMessage = { type: 'sync', digest: '', records, reply: false }
    for (let i = 0; i < N && N > 1; i++) {
      const n = this.nodes[i]
      this.handle(n, { type: 'receive', nowMs: 0, from: this.nodes[(i + 1) % N].id, msg })
    }
    this.quiet = false
    for (let i = 0; i < N; i++) {
      const n = this.nodes[i]
      n.digest = n.swim!.digest()
      n.selfState = n.swim!.selfState
      this.refreshEligible(n)
    }
    this.preformRecords = []
  }

  // -------------------------------------------------------------------------------------------
  // Node lifecycle

  private startNode(n: SimNode, seeds: number[]): void {
    n.life++
    const inc = n.life === 1 ? 1 : n.persisted + 1
    n.persisted = inc // the shell writes the start incarnation before announcing it
    n.lifeInc = inc
    n.proc = 'running'
    n.hostUp = true
    n.leaving = false
    n.selfState = 'idle'
    n.digest = ''
    n.suspects.clear()
    n.tickAt = Infinity
    n.tickGen++
    n.upSinceMs = this.now
    n.swim = new SwimInstance({
      id: n.id,
      meta: n.meta,
      config: this.o.cfg,
      random: new Rng(deriveSeed(this.o.seed, Stream.node, n.life * 65536 + n.idx)),
      auth: this.authFor(n.id),
      incarnation: inc,
      nowMs: this.now,
    })
    for (const s of seeds) this.handle(n, { type: 'discovered', nowMs: this.now, peer: this.nodes[s].id })
    this.handle(n, { type: 'join', nowMs: this.now })
    this.refreshEligible(n)
  }

  /** The process dies. refused: the host stays up and answers for it; else the host vanishes. */
  private kill(n: SimNode, proc: 'crashed' | 'stopped', refused: boolean): void {
    if (n.swim) this.addStats(n.swim.stats)
    if (n.upSinceMs >= 0) n.upTotalMs += this.now - n.upSinceMs
    n.upSinceMs = -1
    n.proc = proc
    n.hostUp = refused
    n.swim = null
    n.tickGen++
    n.tickAt = Infinity
    n.tickDue = false
    n.pending = []
    n.stalledUntil = -1
    n.suspects.clear()
    this.refreshEligible(n)
    if (refused) {
      for (const x of this.nodes) {
        if (x.proc !== 'running') continue
        const last = x.recent.get(n.idx)
        if (last === undefined) continue
        x.recent.delete(n.idx)
        if (this.now - last <= CONNECTION_IDLE_MS) this.push(this.now + this.net.delay(), DISCONNECTED, x.idx, n.idx, null)
      }
    }
    n.recent.clear()
  }

  private addStats(st: SwimStats): void {
    for (const [k, v] of Object.entries(st)) this.protocolTotals[k] = (this.protocolTotals[k] ?? 0) + v
  }

  private isLive(n: SimNode): boolean {
    return n.proc === 'running' && !n.leaving
  }

  private refreshEligible(n: SimNode): void {
    const e = n.proc === 'running' && !n.leaving && n.selfState === 'joined'
    if (e === n.eligible) return
    n.eligible = e
    this.eligibleCount += e ? 1 : -1
    if (e) {
      // A new observer may already reflect open faults (learned while joining): count it now.
      for (const tr of this.openTrackers) if (!tr.seen[n.idx] && tr.target !== n.idx && this.reflects(n, tr)) this.see(tr, n.idx)
    }
    for (const tr of this.openTrackers.slice()) this.maybeAll(tr)
  }

  /** Does observer x's current view satisfy the tracker's condition? */
  private reflects(x: SimNode, tr: Tracker): boolean {
    const id = this.nodes[tr.target].id
    const s = x.swim!.status(id)
    return s === undefined ? x.swim!.isTombstoned(id) && tr.cond('removed', 0) : tr.cond(s, x.swim!.incarnationOf(id)!)
  }

  private eligibleNodes(): number[] {
    const out: number[] = []
    for (const n of this.nodes) if (n.eligible) out.push(n.idx)
    return out
  }

  private pickSeeds(exclude: number): number[] {
    const pool = this.eligibleNodes().filter((i) => i !== exclude)
    return this.faultRng.sample(pool, 1 + this.faultRng.int(3))
  }

  // -------------------------------------------------------------------------------------------
  // Faults

  private traceFault(n: SimNode, what: string): void {
    if (this.o.trace.has(n.id)) this.trace(`FAULT ${n.id}: ${what}`)
  }

  private crashFault(i: number, refused: boolean): void {
    const n = this.nodes[i]
    if (n.proc !== 'running') return
    this.traceFault(n, refused ? 'crash (host refuses)' : 'crash (host vanishes)')
    const rec: FaultRecord = { kind: refused ? 'crash' : 'crash-silent', node: n.id, atMs: this.now, endMs: this.now, incarnation: n.swim!.selfIncarnation, detect: { firstMs: null, allMs: null } }
    this.faults.push(rec)
    const inc = rec.incarnation!
    this.kill(n, 'crashed', refused)
    this.track(rec, rec.detect, i, (to, incarnation) => to === 'removed' || (to === 'failed' && incarnation >= inc))
  }

  private stallFault(i: number, ms: number): void {
    const n = this.nodes[i]
    if (n.proc !== 'running') return
    const inc = n.swim!.selfIncarnation
    const rec: FaultRecord = { kind: 'stall', node: n.id, atMs: this.now, endMs: this.now + ms, incarnation: inc, detect: { firstMs: null, allMs: null }, failedBy: 0 }
    this.faults.push(rec)
    n.stalledUntil = this.now + ms
    n.stallRec = rec
    this.traceFault(n, `stall for ${ms} ms`)
    if (ms > this.tolerance) n.stallExempt.push({ fromMs: this.now, inc, ms })
    this.track(rec, rec.detect, i, (to, incarnation) => (to === 'suspect' || to === 'failed') && incarnation >= inc)
    this.push(this.now + ms, WAKE, i, -1, null)
  }

  private leaveFault(i: number): void {
    const n = this.nodes[i]
    if (n.proc !== 'running') return
    const inc = n.swim!.selfIncarnation
    const rec: FaultRecord = { kind: 'leave', node: n.id, atMs: this.now, endMs: this.now + this.o.cfg.leaveGraceMs + STOP_SLACK_MS, incarnation: inc, detect: { firstMs: null, allMs: null } }
    this.faults.push(rec)
    this.traceFault(n, 'leave')
    n.leaving = true
    n.leaveAtMs = this.now
    n.leaveInc = inc
    this.refreshEligible(n)
    this.track(rec, rec.detect, i, (to, incarnation) => (to === 'left' && incarnation >= inc) || to === 'removed')
    this.handle(n, { type: 'leave', nowMs: this.now })
    this.at(rec.endMs, () => {
      if (n.proc === 'running') this.kill(n, 'stopped', true)
    })
  }

  private restartFault(i: number, downMs: number): void {
    const n = this.nodes[i]
    if (n.proc !== 'running') return
    const crashAt = this.now
    this.traceFault(n, `crash for restart in ${downMs} ms`)
    this.kill(n, 'crashed', true)
    this.at(this.now + downMs, () => {
      const seeds = this.pickSeeds(i)
      this.traceFault(n, `restart at incarnation ${n.persisted + 1}, seeds ${seeds.map((x) => this.nodes[x].id).join(' ')}`)
      this.startNode(n, seeds)
      const inc = n.lifeInc
      const rec: FaultRecord = { kind: 'restart', node: n.id, atMs: crashAt, endMs: this.now, incarnation: inc, detect: { firstMs: null, allMs: null } }
      this.faults.push(rec)
      this.track(rec, rec.detect, i, (to, incarnation) => to === 'alive' && incarnation >= inc)
    })
  }

  private joinFault(i: number): void {
    const n = this.nodes[i]
    const rec: FaultRecord = { kind: 'join', node: n.id, atMs: this.now, endMs: this.now, incarnation: 1, detect: { firstMs: null, allMs: null } }
    this.faults.push(rec)
    const seeds = this.pickSeeds(i)
    this.traceFault(n, `join via ${seeds.map((x) => this.nodes[x].id).join(' ')}`)
    this.startNode(n, seeds)
    this.track(rec, rec.detect, i, (to) => to === 'alive')
  }

  private partitionFault(f: LinkFault): void {
    const d = f.untilMs - f.fromMs
    const name = f.kind === 'sym' ? `${f.side!.reduce((a, s) => a + s, 0)}|${this.members - f.side!.reduce((a, s) => a + s, 0)}` : `${this.nodes[f.a].id}${f.kind === 'asym' ? '↛' : '↮'}${this.nodes[f.b].id}`
    const rec: FaultRecord = { kind: 'partition', variant: f.kind, node: name, atMs: this.now, endMs: f.untilMs, detect: { firstMs: null, allMs: null } }
    this.faults.push(rec)
    this.net.active.push(f)
    let sym: SymPartition | undefined
    if (f.kind === 'sym') {
      sym = { fault: f, rec, beyondTolerance: d > this.tolerance, incAtHeal: null }
      this.symPartitions.push(sym)
    }
    this.at(f.untilMs, () => {
      const k = this.net.active.indexOf(f)
      if (k >= 0) this.net.active.splice(k, 1)
      if (sym) {
        const incs = new Float64Array(this.members).fill(-1)
        for (const n of this.nodes) if (n.swim) incs[n.idx] = n.swim.selfIncarnation
        sym.incAtHeal = incs
      }
      this.waiting.push({
        sinceMs: this.now,
        resolve: (t) => {
          rec.detect.firstMs = t - f.untilMs
          rec.detect.allMs = t - f.untilMs
        },
      })
    })
  }

  /**
   * Was `t`'s leave made while a symmetric partition beyond tolerance was in force? Then the
   * far side could not hear it, may declare it failed, and that verdict spreads to everyone
   * (joiners included) until the left record overtakes it: forgiven until heal + crash bound.
   */
  private leaveCutOff(t: SimNode): boolean {
    const from = t.leaveAtMs - this.crashBound
    const to = t.leaveAtMs + this.o.cfg.leaveGraceMs + STOP_SLACK_MS
    for (const p of this.symPartitions) {
      const f = p.fault
      if (p.beyondTolerance && f.fromMs <= to && f.untilMs >= from && this.now <= f.untilMs + this.crashBound) return true
    }
    return false
  }

  /** Why a failure of live member `t` at `inc` is forgiven, if it is (see checks.ts). */
  private exemption(obs: SimNode, t: SimNode, inc: number): string | undefined {
    for (const s of t.stallExempt) if (this.now >= s.fromMs && inc <= s.inc) return `stalled ${s.ms} ms`
    for (const p of this.symPartitions) {
      if (!p.beyondTolerance || this.now < p.fault.fromMs) continue
      // While partitioned, only the other side may fail it; after the heal, that verdict spreads
      // to everyone until the member's refutation (a higher incarnation) overtakes it.
      if (this.now < p.fault.untilMs) {
        if (p.fault.side![obs.idx] !== p.fault.side![t.idx]) return 'partitioned'
        continue
      }
      if (this.now <= p.fault.untilMs + this.crashBound && p.incAtHeal && inc <= p.incAtHeal[t.idx]) return 'partitioned'
    }
    return undefined
  }

  // -------------------------------------------------------------------------------------------
  // Detection trackers: when did the first, and when did every, live member reflect a fault?

  private track(rec: FaultRecord, det: Detection, target: number, cond: Tracker['cond']): void {
    const tr: Tracker = { rec, det, target, startMs: this.now, cond, seen: new Uint8Array(this.members), count: 0, done: false }
    // Observers that already reflect it count from the start.
    for (const x of this.nodes) if (x.eligible && x.idx !== target && this.reflects(x, tr)) this.see(tr, x.idx)
    let list = this.trackers.get(target)
    if (!list) this.trackers.set(target, (list = []))
    list.push(tr)
    this.openTrackers.push(tr)
    this.maybeAll(tr)
  }

  private see(tr: Tracker, obs: number): void {
    if (tr.seen[obs]) return
    tr.seen[obs] = 1
    tr.count++
    if (tr.det.firstMs === null) tr.det.firstMs = this.now - tr.startMs
  }

  private maybeAll(tr: Tracker): void {
    if (tr.done) return
    const t = this.nodes[tr.target]
    const needed = this.eligibleCount - (t.eligible ? 1 : 0)
    if (needed <= 0 || tr.count < needed) return
    // A stalled observer is live but frozen: it cannot reflect anything until it wakes, so it
    // does not hold up "every live member" (its view is judged by the agreement check instead).
    for (const x of this.nodes) if (x.eligible && x.idx !== tr.target && !tr.seen[x.idx] && !(x.stalledUntil > this.now)) return
    tr.det.allMs = this.now - tr.startMs
    tr.done = true
    this.openTrackers = this.openTrackers.filter((x) => x !== tr)
  }

  // -------------------------------------------------------------------------------------------
  // Agreement: all live members joined, one digest, every live member held alive at its
  // current life, no dead member held up.

  private agreed(): boolean {
    let rep: SimNode | undefined
    for (const n of this.nodes) {
      if (!this.isLive(n)) continue
      if (n.selfState !== 'joined') return false
      if (rep === undefined) rep = n
      else if (n.digest !== rep.digest) return false
      if (n.suspects.size > 0) for (const s of n.suspects) if (this.isLive(this.nodes[s])) return false
    }
    if (!rep) return true
    const view = rep.swim!
    for (const m of this.nodes) {
      if (m.proc === 'unstarted') continue
      const s = view.status(m.id)
      if (this.isLive(m)) {
        if (s !== 'alive' || view.incarnationOf(m.id)! < m.lifeInc) return false
      } else if (s === 'alive' || s === 'suspect') return false
    }
    return true
  }

  // -------------------------------------------------------------------------------------------
  // The shell: inputs in, decisions out

  private input(n: SimNode, inp: Input): void {
    if (n.stalledUntil > this.now) {
      if (n.pending.length < PENDING_MAX) n.pending.push(inp)
      return
    }
    this.handle(n, inp)
  }

  private handle(n: SimNode, inp: Input): void {
    const swim = n.swim!
    const ds = swim.handle(inp)
    this.handles++
    for (let i = 0; i < ds.length; i++) {
      const d = ds[i]
      switch (d.type) {
        case 'send':
          if (!this.quiet) this.unicast(n, d.to, d.msg)
          break
        case 'broadcast':
          if (!this.quiet) this.broadcast(n, d.msg)
          else if (d.msg.records.length === 1 && d.msg.records[0].id === n.id) this.preformRecords.push(d.msg.records[0])
          break
        case 'event':
          if (!this.quiet) this.observe(n, d.event)
          break
        case 'persist-incarnation':
          n.persisted = d.incarnation
          break
        case 'log': {
          const key = `${d.level}: ${d.msg.split(':')[0]}`
          this.logs[key] = (this.logs[key] ?? 0) + 1
          if (d.msg.startsWith('local stall detected') && !(this.now - n.lastWakeMs <= this.o.cfg.probeIntervalMs)) this.spuriousStalls++
          if (this.o.trace.has(n.id)) this.trace(`${n.id}: log ${d.level} ${d.msg}${d.data ? ' ' + JSON.stringify(d.data) : ''}`)
          break
        }
        default:
          throw new SimError(`unknown decision ${JSON.stringify(d)}`)
      }
    }
    this.reschedule(n)
  }

  /** Arm the node's one timer at nextDeadlineMs(), as the shell contract requires after every input. */
  private reschedule(n: SimNode): void {
    const swim = n.swim
    if (!swim) return
    const d = swim.nextDeadlineMs()
    if (d === n.tickAt) return
    n.tickGen++
    n.tickAt = d
    if (d !== Infinity) this.push(d < this.now ? this.now : d, TICK, n.idx, -1, null, n.tickGen)
    if (this.o.trace.has(n.id)) this.trace(`${n.id}: next deadline ${d === Infinity ? '∞' : (d / 1000).toFixed(4) + 's'}`)
  }

  private unicast(s: SimNode, to: string, msg: Message): void {
    const di = this.idIndex.get(to)
    if (di === undefined) throw new SimError(`${s.id} sent ${msg.type} to ${to}, who does not exist`)
    const bytes = messageBytes(msg)
    this.sentMsgs++
    this.sentBytes += bytes
    this.sentByType[msg.type]++
    const net = this.net
    if (net.active.length > 0 && net.unicastBlocked(s.idx, di)) return
    if (net.lost()) return
    this.push(this.now + net.delay(), DELIVER, di, s.idx, msg, 0, null, bytes)
    if (net.duplicated()) this.push(this.now + net.delay(), DELIVER, di, s.idx, msg, 0, null, bytes)
  }

  private broadcast(s: SimNode, msg: UpdateMessage): void {
    const bytes = messageBytes(msg)
    this.sentMsgs += GOSSIP_D
    this.sentBytes += GOSSIP_D * bytes
    this.sentByType.broadcast += GOSSIP_D
    const net = this.net
    const nodes = this.nodes
    for (let i = 0; i < nodes.length; i++) {
      const r = nodes[i]
      if (r === s || r.proc !== 'running') continue
      const d = net.broadcastDelay(s.idx, i)
      if (d < 0 || net.lost()) continue
      this.push(this.now + d, BCAST, i, s.idx, msg, 0, null, bytes)
    }
  }

  /** A unicast reached a running node: keep the connection map, and tell both ends of a new connection. */
  private touchConnection(d: SimNode, s: SimNode): void {
    const last = d.recent.get(s.idx)
    // Both ends are refreshed together, so one look tells (the ack of a ping takes this path).
    if (last !== undefined && this.now - last < TOUCH_GRANULARITY_MS) return
    const fresh = last !== undefined && this.now - last <= CONNECTION_IDLE_MS
    const sRunning = s.proc === 'running'
    this.touch(d.recent, s.idx)
    if (sRunning) this.touch(s.recent, d.idx)
    if (fresh) return
    this.connected(d, s.idx)
    // The dialer learns of the connection when the handshake completes.
    if (sRunning) this.push(this.now + this.net.delay(), CONNECTED, s.idx, d.idx, null)
  }

  private touch(m: Map<number, number>, peer: number): void {
    m.delete(peer)
    if (m.size >= RECENT_PEERS_MAX) m.delete(m.keys().next().value!)
    m.set(peer, this.now)
  }

  private connected(n: SimNode, peer: number): void {
    // Always reported: the protocol tracks open connections (a probe without one gets connectAllowanceMs).
    this.input(n, { type: 'connected', nowMs: this.now, peer: this.nodes[peer].id })
  }

  // -------------------------------------------------------------------------------------------
  // Observing events

  private trace(line: string): void {
    this.o.onTrace(`${(this.now / 1000).toFixed(4).padStart(10)}s  ${line}`)
  }

  private traceMsg(what: string, from: SimNode, to: SimNode, msg: Message): void {
    if (this.o.trace.has(from.id) || this.o.trace.has(to.id)) {
      const brief = msg.type === 'update' ? ` ${msg.records.map((r) => `${r.id}:${r.status}@${r.incarnation}`).join(',')}`
        : msg.type === 'sync' ? ` ${msg.records ? `${msg.records.length} records` : 'digest'}${msg.reply ? ' reply?' : ''}${msg.join ? ' join' : ''}`
        : 'seq' in msg ? ` #${msg.seq}${'target' in msg ? ` ${msg.target}` : ''}` : ''
      this.trace(`${what} ${from.id}→${to.id} ${msg.type}${brief}`)
    }
  }

  private observe(obs: SimNode, e: MembershipEvent): void {
    this.eventCounts[e.type] = (this.eventCounts[e.type] ?? 0) + 1
    if (e.type === 'view:changed') {
      obs.digest = e.digest ?? ''
      return
    }
    if (e.type === 'self:state') {
      obs.selfState = e.to as SelfState
      this.refreshEligible(obs)
      return
    }
    if (this.o.trace.size > 0 && (this.o.trace.has(e.id) || this.o.trace.has(obs.id))) {
      this.trace(`${obs.id}: ${e.type} ${e.id} ${e.from ?? '∅'}→${e.to} @${e.incarnation}${e.evidence ? ` (${e.evidence.rule}${e.evidence.source ? ` via ${e.evidence.source}` : ''})` : ''}`)
    }
    if (e.id === obs.id) return
    const ti = this.idIndex.get(e.id)
    if (ti === undefined) return
    const t = this.nodes[ti]
    if (e.to === 'suspect') obs.suspects.add(ti)
    else obs.suspects.delete(ti)
    const res = this.resurrection.onEvent(obs.idx, ti, e.to, e.incarnation)
    if (res) this.streamed.push({ check: 'safety:resurrection', atMs: this.now, message: `${obs.id} saw ${e.id} ${res} (${e.type})` })
    const live = this.isLive(t) && e.incarnation >= t.lifeInc
    if (e.type === 'member:suspected' && live) {
      this.falseSuspicionEvents++
      this.falseSuspicionKeys.add(`${ti}@${e.incarnation}`)
    } else if (e.type === 'member:failed') {
      if (t.leaveAtMs >= 0 && this.now >= t.leaveAtMs && e.incarnation >= t.leaveInc) {
        if (this.leaveCutOff(t)) this.exemptCount++
        else {
          this.streamed.push({
            check: 'safety:leave-as-failure', atMs: this.now,
            message: `${obs.id} declared ${t.id}@${e.incarnation} failed (${e.evidence?.rule ?? '?'}) ${(this.now - t.leaveAtMs).toFixed(1)} ms after it announced its leave`,
          })
        }
      } else if (live) {
        const exempt = this.exemption(obs, t, e.incarnation)
        if (exempt) this.exemptCount++
        else this.falseFailureCount++
        if (t.stallRec && this.now >= t.stallRec.atMs && e.incarnation <= t.stallRec.incarnation!) t.stallRec.failedBy!++
        if (this.falseFailures.length < MAX_LISTED || !exempt) {
          const f: FalseFailure = { target: t.id, by: obs.id, atMs: this.now, incarnation: e.incarnation, rule: e.evidence?.rule ?? '?' }
          if (exempt) f.exempt = exempt
          if (this.falseFailures.length < 10 * MAX_LISTED) this.falseFailures.push(f)
        }
      }
    }
    const ts = this.trackers.get(ti)
    if (ts) {
      for (const tr of ts) {
        if (tr.done || tr.seen[obs.idx] || !obs.eligible) continue
        if (tr.cond(e.to, e.incarnation)) {
          this.see(tr, obs.idx)
          this.maybeAll(tr)
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The run loop

  private dispatch(ev: Ev): void {
    const now = this.now
    switch (ev.kind) {
      case TICK: {
        const n = this.nodes[ev.node]
        if (ev.gen !== n.tickGen || n.proc !== 'running') {
          this.staleTicks++
          return
        }
        if (n.stalledUntil > now) {
          n.tickDue = true
          return
        }
        if (n.lastTickMs === now) {
          if (++n.sameTimeTicks > SAME_TIME_TICK_LIMIT) throw new SimError(`${n.id} asked for ${SAME_TIME_TICK_LIMIT} ticks at t=${now} ms: timer loop in the protocol`)
        } else {
          n.lastTickMs = now
          n.sameTimeTicks = 0
        }
        n.tickAt = Infinity
        if (this.o.trace.has(n.id)) this.trace(`${n.id}: tick`)
        this.handle(n, { type: 'tick', nowMs: now })
        break
      }
      case DELIVER:
      case BCAST: {
        const d = this.nodes[ev.node]
        const s = this.nodes[ev.peer]
        const msg = ev.msg!
        if (d.proc !== 'running') {
          if (this.o.trace.size > 0) this.traceMsg('lost(dead)', s, d, msg)
          // A dead process on a live host: the connection attempt is refused, ~1 RTT after sending.
          if (ev.kind === DELIVER && d.hostUp && s.proc === 'running') this.push(now + this.net.delay(), SEND_FAILED, s.idx, d.idx, msg)
          return
        }
        this.recvMsgs++
        this.recvBytes += ev.bytes
        if (this.o.trace.size > 0) this.traceMsg(ev.kind === DELIVER ? 'recv' : 'bcast', s, d, msg)
        if (ev.kind === DELIVER) this.touchConnection(d, s)
        this.input(d, { type: 'receive', nowMs: now, from: s.id, msg })
        break
      }
      case SEND_FAILED: {
        const n = this.nodes[ev.node]
        if (n.proc !== 'running') return
        this.input(n, { type: 'send-failed', nowMs: now, to: this.nodes[ev.peer].id, msg: ev.msg!, reason: 'refused' })
        break
      }
      case CONNECTED: {
        const n = this.nodes[ev.node]
        if (n.proc === 'running') this.connected(n, ev.peer)
        break
      }
      case DISCONNECTED: {
        const n = this.nodes[ev.node]
        if (n.proc === 'running') this.input(n, { type: 'disconnected', nowMs: now, peer: this.nodes[ev.peer].id })
        break
      }
      case WAKE: {
        const n = this.nodes[ev.node]
        n.stalledUntil = -1
        n.lastWakeMs = now
        if (n.proc !== 'running') return
        const rec = n.stallRec!
        if (n.tickDue) {
          n.tickDue = false
          n.tickAt = Infinity
          this.handle(n, { type: 'tick', nowMs: now })
        }
        const pending = n.pending
        n.pending = []
        for (const inp of pending) {
          if (n.proc !== 'running') break
          inp.nowMs = now
          this.handle(n, inp)
        }
        const inc = rec.incarnation!
        rec.recover = { firstMs: null, allMs: null }
        this.track(rec, rec.recover, n.idx, (to, incarnation) => to === 'alive' && incarnation >= inc)
        break
      }
      case ACTION:
        ev.fn!()
        break
      case CHECK:
        if (this.waiting.length > 0 && this.agreed()) {
          const w = this.waiting.splice(0)
          for (const x of w) x.resolve(now)
        }
        break
      default:
        throw new SimError(`unknown event kind ${ev.kind}`)
    }
  }

  run(): SimSummary {
    const wall0 = performance.now()
    this.setup()
    this.setupWallMs = performance.now() - wall0
    const q = this.q
    const end = this.endMs
    const progress = this.o.onProgress
    let sinceProgress = 0
    while (q.size > 0 && q.peekTime() <= end) {
      const ev = q.pop()!
      this.now = ev.t
      this.dispatch(ev)
      this.events++
      if (progress && ++sinceProgress >= PROGRESS_EVERY) {
        sinceProgress = 0
        progress(this.now, end)
      }
    }
    this.now = end
    progress?.(end, end)
    return this.summarize(performance.now() - wall0)
  }

  private summarize(wallMs: number): SimSummary {
    const o = this.o
    let nodeMs = 0
    for (const n of this.nodes) {
      nodeMs += n.upTotalMs
      if (n.upSinceMs >= 0) nodeMs += this.endMs - n.upSinceMs
      if (n.swim) this.addStats(n.swim.stats)
    }
    const nodeSec = nodeMs / 1000 || 1
    this.agreement.atEnd = this.agreed()
    const { onProgress: _p, ...options } = this.optionsEcho()
    const faults = this.faults.slice().sort((a, b) => a.atMs - b.atMs || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    const round = (v: number) => Math.round(v * 1000) / 1000
    for (const f of faults) {
      for (const d of [f.detect, f.recover]) {
        if (!d) continue
        if (d.firstMs !== null) d.firstMs = round(d.firstMs)
        if (d.allMs !== null) d.allMs = round(d.allMs)
      }
    }
    const summary: SimSummary = {
      seed: o.seed,
      options,
      command: replayCommand(options),
      profile: o.profile,
      config: o.cfg,
      members: this.members,
      endMs: this.endMs,
      faults,
      detection: detectionStats(faults),
      falseFailures: { count: this.falseFailureCount, exempt: this.exemptCount, list: this.falseFailures },
      falseSuspicions: { events: this.falseSuspicionEvents, distinct: this.falseSuspicionKeys.size },
      agreement: this.agreement,
      bounds: { toleranceMs: round(this.tolerance), crashDetectMs: round(this.crashBound), agreementMs: round(this.agreeBound) },
      traffic: {
        msgsSentPerNodeSec: round(this.sentMsgs / nodeSec),
        msgsRecvPerNodeSec: round(this.recvMsgs / nodeSec),
        bytesSentPerNodeSec: round(this.sentBytes / nodeSec),
        bytesRecvPerNodeSec: round(this.recvBytes / nodeSec),
        bytesMethod: 'exact JSON length incl. "v":1, memoized per record',
        sentByType: this.sentByType,
        nodeSeconds: round(nodeSec),
      },
      protocol: this.protocolTotals,
      events: this.eventCounts,
      logs: this.logs,
      violations: [],
      run: {
        events: this.events,
        handles: this.handles,
        staleTicks: this.staleTicks,
        maxQueue: this.q.maxSize,
        wallMs: Math.round(wallMs),
        setupWallMs: Math.round(this.setupWallMs),
        heapUsedMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
        spuriousStallDetections: this.spuriousStalls,
      },
    }
    summary.violations = evaluate(summary, this.streamed)
    return summary
  }

  /** The options as given (minus defaults that were not), for the summary and the replay command. */
  private optionsEcho(): SimOptions {
    const o = this.o
    const e: SimOptions = { seed: o.seed, nodes: o.nodes, seconds: o.seconds }
    if (o.profile !== 'local') e.profile = o.profile
    if (Object.keys(o.overrides).length) e.config = o.overrides
    if (o.loss) e.loss = o.loss
    if (o.dup) e.dup = o.dup
    if (o.delayMs[0] !== 0.5 || o.delayMs[1] !== 3) e.delayMs = o.delayMs
    if (o.crash) e.crash = o.crash
    if (o.crashSilent) e.crashSilent = o.crashSilent
    if (o.stalls.length) e.stalls = o.stalls
    if (o.leave) e.leave = o.leave
    if (o.restart) e.restart = o.restart
    if (o.join) e.join = o.join
    if (o.partitions.length) e.partitions = o.partitions
    if (o.preformed) e.preformed = true
    if (o.faultWindow[0] !== 0.2 || o.faultWindow[1] !== 0.6) e.faultWindow = o.faultWindow
    return e
  }
}

/** Run one simulation to the end and return its summary (violations included). */
export function runSimulation(options: SimOptions): SimSummary {
  return new Simulation(options).run()
}
