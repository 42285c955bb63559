// Types of the pure membership protocol: what goes in (inputs, messages), what comes out
// (decisions, events), and the records that describe members. Nothing here touches I/O.
// The rules these types serve are written out in docs/MODEL.md; keep the two in step.

/** A member's identity: the libp2p PeerId string in the real node, any unique string in the simulator. */
export type MemberId = string

/**
 * Member states, ordered by severity at equal incarnation (MODEL.md §2):
 * alive < suspect < failed < left. `removed` is not a state a record can carry on the
 * wire as a claim about a live member; it is the local tombstone after failed/left expire.
 */
export type MemberStatus = 'alive' | 'suspect' | 'failed' | 'left'

/** The local node's own lifecycle (MODEL.md §1). */
export type SelfState = 'idle' | 'joining' | 'joined' | 'leaving' | 'left'

/** Small descriptive metadata a member publishes about itself in its own alive record. */
export interface MemberMeta {
  name: string
  /** Addresses the member can be reached at (multiaddrs in the real node). */
  addrs: string[]
  /** Free-form tags such as room or seat; at most LIMITS.tagsBytes when encoded. */
  tags: Record<string, string>
}

/** How one probe attempt ended. */
export type ProbeOutcome =
  | 'ack' // the target answered
  | 'timeout' // no answer within the timeout: weak evidence (path or target may be slow)
  | 'refused' // the target's host actively refused the connection: strong evidence (process gone)
  | 'unreachable' // no route / host down / connection reset during the attempt: weak evidence
  | 'nack' // an indirect helper reports it could not reach the target in time

/** One piece of probe evidence, as shown to a user ("indirect probe via lab-02 timed out"). */
export interface ProbeEvidence {
  /** Who did the probing. */
  by: MemberId
  /** For indirect probes: the helper that relayed it (absent for a direct probe). */
  via?: MemberId
  outcome: ProbeOutcome
  /** Local monotonic time of the observer when it concluded. */
  atMs: number
}

/** The rule that produced a verdict; the UI maps each to a sentence (see explain.ts). */
export type EvidenceRule =
  | 'alive-record' // the member's own alive record (joined, restarted, updated)
  | 'refuted' // the member raised its incarnation to answer a suspicion
  | 'probe-failed' // our direct and indirect probes failed (weak evidence)
  | 'connection-refused' // our probe was refused by the member's host (strong evidence)
  | 'suspect-gossip' // another member told us it suspects the member
  | 'suspicion-timeout' // the suspicion was not refuted before its timeout expired
  | 'failed-gossip' // another member told us the member failed
  | 'leave-announced' // the member announced its own leave
  | 'tombstone-expired' // failed/left for longer than the tombstone timeout: forgotten
  | 'sync' // learned through anti-entropy from another member's full state

/**
 * Why a member is in its current state. Travels with suspect/failed records (bounded in size,
 * see LIMITS), so every node can answer "why is X failed?" with the prober's own observations.
 */
export interface Evidence {
  rule: EvidenceRule
  /** The member whose conclusion this is (the prober, the announcer, or ourselves). */
  observer: MemberId
  /** Where we heard it from, when relayed (gossip or sync); absent when observed first-hand. */
  source?: MemberId
  /** Observer's local time of the conclusion, in ms. Only meaningful on the observer. */
  atMs: number
  /** Probe attempts behind a suspicion: direct first, then indirect. At most LIMITS.evidenceProbes. */
  probes?: ProbeEvidence[]
  /** Members that independently suspected it (Lifeguard confirmations). At most LIMITS.evidenceConfirmations. */
  confirmations?: MemberId[]
  /** The timeout that fired (suspicion or tombstone), in ms. */
  timeoutMs?: number
  /** Whether the evidence counted as strong (a refused connection) or weak (silence). */
  strength?: 'strong' | 'weak'
}

/**
 * A claim about one member, as carried in broadcasts and sync. `alive` and `left` claims are
 * self-statements: only the member itself may issue them; `sig` lets third parties forward them
 * verifiably (checked through the Authenticator component).
 */
export interface MemberRecord {
  id: MemberId
  incarnation: number
  status: MemberStatus
  /** Present on alive/left records (the member's own metadata at that incarnation). */
  meta?: MemberMeta
  /** Why (for suspect/failed), bounded. */
  evidence?: Evidence
  /** Self-signature over the canonical self-statement (alive/left), when authentication is on. */
  sig?: string
}

/** A removed member's tombstone: remembered so stale gossip cannot resurrect it. */
export interface Tombstone {
  id: MemberId
  incarnation: number
}

// ---------------------------------------------------------------------------------------------
// Messages between nodes. Every message carries `v` (protocol version) on the wire; the codec
// in the shell rejects other versions. Unicast messages go over direct streams; `update` goes
// over the group's broadcast channel (gossipsub in the real node).

export type Message =
  | PingMessage
  | AckMessage
  | PingReqMessage
  | IndirectAckMessage
  | NackMessage
  | UpdateMessage
  | SyncMessage

/** A direct probe. Carries the sender's view digest so a differing view triggers a sync. */
export interface PingMessage {
  type: 'ping'
  seq: number
  /** Set when this ping is sent on behalf of `requester` (indirect probe). */
  requester?: MemberId
  digest: string
  /**
   * Set when the sender suspects the target, at this incarnation: the target refutes on the spot
   * and puts its new alive record in the ack, so a suspicion reaches its subject with every probe
   * even when broadcasts are lost.
   */
  suspect?: number
}

export interface AckMessage {
  type: 'ack'
  seq: number
  digest: string
  /** The acker's own incarnation and status: a leaving node acks with status 'left'. */
  incarnation: number
  status: 'alive' | 'left'
  /** A leaving node includes its signed left record, so a prober that missed the broadcast learns it left. */
  self?: MemberRecord
}

/** Ask a helper to probe `target` for us (SWIM §3.1 indirect probe). */
export interface PingReqMessage {
  type: 'ping-req'
  seq: number
  target: MemberId
}

/** A helper relays the target's ack back to the requester. */
export interface IndirectAckMessage {
  type: 'indirect-ack'
  seq: number
  target: MemberId
}

/** A helper could not reach the target in time (Lifeguard §IV.A: lets the requester gauge its own health). */
export interface NackMessage {
  type: 'nack'
  seq: number
  target: MemberId
}

/** Membership changes, broadcast to the whole group. */
export interface UpdateMessage {
  type: 'update'
  records: MemberRecord[]
}

/**
 * Anti-entropy (push-pull). A request carries only the digest; the answer carries the full state
 * when digests differ; `reply` asks the receiver to answer with its own state if still different.
 */
export interface SyncMessage {
  type: 'sync'
  digest: string
  /** Full state: every known member (including self) and tombstones. Absent in a digest-only request. */
  records?: MemberRecord[]
  tombstones?: Tombstone[]
  reply: boolean
  /** True when this sync is a join: the receiver answers with its full state unconditionally. */
  join?: boolean
}

// ---------------------------------------------------------------------------------------------
// Inputs from the shell. Every input carries the current monotonic time `nowMs`.

export type Input =
  | { type: 'tick'; nowMs: number }
  | { type: 'receive'; nowMs: number; from: MemberId; msg: Message }
  /** A unicast send to `to` could not be delivered (the shell's dial or write failed). */
  | { type: 'send-failed'; nowMs: number; to: MemberId; msg: Message; reason: 'refused' | 'unreachable' | 'timeout' }
  | { type: 'connected'; nowMs: number; peer: MemberId }
  | { type: 'disconnected'; nowMs: number; peer: MemberId }
  /** A candidate peer found by discovery (mDNS, bootstrap): the protocol decides whether to sync with it. */
  | { type: 'discovered'; nowMs: number; peer: MemberId }
  /**
   * A member's own alive record heard by discovery (its mDNS announcement on the segment), not
   * through any member: believed only with the member's valid signature (MODEL.md §2).
   */
  | { type: 'announced'; nowMs: number; rec: MemberRecord }
  | { type: 'join'; nowMs: number }
  | { type: 'leave'; nowMs: number }
  | { type: 'set-meta'; nowMs: number; meta: MemberMeta }
  /** The machine slept (or the process was suspended) for about `sleptMs`: treated as a local stall. */
  | { type: 'resumed'; nowMs: number; sleptMs: number }

// ---------------------------------------------------------------------------------------------
// Decisions for the shell to carry out.

export type Decision =
  | { type: 'send'; to: MemberId; msg: Message }
  | { type: 'broadcast'; msg: UpdateMessage }
  | { type: 'event'; event: MembershipEvent }
  /** The node's own incarnation changed: the shell must persist it before announcing (restart safety). */
  | { type: 'persist-incarnation'; incarnation: number }
  /** Something the operator may want to know (stall detected, message ignored and why). */
  | { type: 'log'; level: 'info' | 'warn'; msg: string; data?: Record<string, unknown> }

export type MembershipEventType =
  | 'member:joined'
  | 'member:updated'
  | 'member:suspected'
  | 'member:failed'
  | 'member:recovered'
  | 'member:left'
  | 'member:removed'
  | 'self:state'
  | 'view:changed'

export interface MembershipEvent {
  type: MembershipEventType
  /** The member concerned (self for self:state, self for view:changed). */
  id: MemberId
  name: string
  from: MemberStatus | 'removed' | SelfState | null
  to: MemberStatus | 'removed' | SelfState
  incarnation: number
  atMs: number
  evidence?: Evidence
  /** For view:changed: the new digest. */
  digest?: string
}

/** A read-only view of one member, as the API and UI see it. */
export interface MemberView {
  id: MemberId
  name: string
  status: MemberStatus
  incarnation: number
  addrs: string[]
  tags: Record<string, string>
  /** Local monotonic time of the last status change. */
  sinceMs: number
  evidence?: Evidence
  /** Round-trip time of our last successful direct probe, in ms. */
  lastRttMs?: number
  isSelf: boolean
}

// ---------------------------------------------------------------------------------------------
// Components passed in (js-libp2p style narrow components).

/** Seeded randomness. The simulator derives one per node from the run's seed. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number
}

/**
 * Signs and checks self-statements (alive/left records) so that third parties can forward them
 * and nobody can forge them. The real node uses Ed25519 keys embedded in PeerIds.
 */
export interface Authenticator {
  sign(record: MemberRecord): string | undefined
  verify(record: MemberRecord): boolean
}
