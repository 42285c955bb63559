// The simulated network (after TigerBeetle's packet_simulator.zig): per-message delay drawn
// from a range (reordering falls out of the spread), loss and duplication, and link faults:
// symmetric partitions (two sides), one-way faults (A→B dropped) and cut links (A↔B) while
// both ends still reach everyone else. All randomness comes from one seeded stream.
//
// Broadcasts model gossipsub: each live subscribed node receives a publish once (gossipsub
// deduplicates by message id), after 1..⌈log_D N⌉ mesh hops, and with the per-link loss
// applied once per recipient (pessimistic: the mesh's redundancy and IHAVE/IWANT would recover
// some). A symmetric partition stops a broadcast; a one-way fault or a cut link does not (the
// mesh routes around one link), it only costs an extra hop.

import type { MemberRecord, Message } from '../protocol/types.js'
import type { Rng } from './random.js'

/** gossipsub's mesh degree D: the publisher sends each message to D mesh peers. */
export const GOSSIP_D = 6

export interface LinkFault {
  kind: 'sym' | 'asym' | 'cut'
  /** sym: side[i] is 0 or 1. */
  side?: Uint8Array
  /** asym: a→b dropped; cut: a↔b dropped. */
  a: number
  b: number
  fromMs: number
  untilMs: number
}

export class Network {
  /** Faults in force now (usually none, so the common path is one length check). */
  readonly active: LinkFault[] = []
  private readonly minMs: number
  private readonly spanMs: number
  private readonly maxHops: number

  constructor(
    private readonly rng: Rng,
    readonly loss: number,
    readonly dup: number,
    delayMs: [number, number],
    members: number,
  ) {
    this.minMs = delayMs[0]
    this.spanMs = delayMs[1] - delayMs[0]
    this.maxHops = Math.max(1, Math.ceil(Math.log(Math.max(2, members)) / Math.log(GOSSIP_D)))
  }

  /** One-way delay of one message on one link. */
  delay(): number {
    return this.minMs + this.rng.next() * this.spanMs
  }

  lost(): boolean {
    return this.loss > 0 && this.rng.next() < this.loss
  }

  duplicated(): boolean {
    return this.dup > 0 && this.rng.next() < this.dup
  }

  /** Is a unicast from → to dropped by a link fault right now? */
  unicastBlocked(from: number, to: number): boolean {
    const fs = this.active
    for (let i = 0; i < fs.length; i++) {
      const f = fs[i]
      if (f.kind === 'sym') {
        if (f.side![from] !== f.side![to]) return true
      } else if (f.kind === 'asym') {
        if (f.a === from && f.b === to) return true
      } else if ((f.a === from && f.b === to) || (f.a === to && f.b === from)) return true
    }
    return false
  }

  /** Delay of a broadcast from → to, or -1 when a partition stops it. */
  broadcastDelay(from: number, to: number): number {
    let hops = 1 + Math.floor(this.rng.next() * this.maxHops)
    const fs = this.active
    for (let i = 0; i < fs.length; i++) {
      const f = fs[i]
      if (f.kind === 'sym') {
        if (f.side![from] !== f.side![to]) return -1
      } else if ((f.a === from && f.b === to) || (f.kind === 'cut' && f.a === to && f.b === from)) hops++
    }
    // One draw per recipient, scaled by the hops: cheap, and keeps the spread.
    return hops * this.delay()
  }
}

// ---------------------------------------------------------------------------------------------
// Message sizes: the exact length of the JSON the real node sends ({"v":1,...}), without
// encoding: probe-class messages by arithmetic over their few fields; records (immutable and
// shared between nodes) are encoded once each and their length remembered; tombstones by
// arithmetic. Ids and digests are plain ASCII (no JSON escapes), which the simulator guarantees.
// The simulator computes a message's size once per send and carries it with the message.

const recordBytes = new WeakMap<MemberRecord, number>()

function recordLen(r: MemberRecord): number {
  let n = recordBytes.get(r)
  if (n === undefined) {
    n = JSON.stringify(r).length
    recordBytes.set(r, n)
  }
  return n
}

function recordsLen(rs: readonly MemberRecord[]): number {
  let n = rs.length > 0 ? rs.length - 1 : 0
  for (let i = 0; i < rs.length; i++) n += recordLen(rs[i])
  return n
}

/** `"key":"value"` */
const str = (key: string, v: string) => key.length + 5 + v.length
/** `"key":123` */
const num = (key: string, v: number) => key.length + 3 + String(v).length

/** `{"v":1,"type":"<type>"` plus the closing brace. */
const envelope = (type: string) => 7 + str('type', type) + 1

export function messageBytes(msg: Message): number {
  switch (msg.type) {
    case 'ping':
      return envelope('ping') + 1 + num('seq', msg.seq) + 1 + str('digest', msg.digest) + (msg.requester !== undefined ? 1 + str('requester', msg.requester) : 0)
    case 'ack':
      return envelope('ack') + 1 + num('seq', msg.seq) + 1 + str('digest', msg.digest) + 1 + num('incarnation', msg.incarnation) + 1 + str('status', msg.status) +
        (msg.self !== undefined ? 1 + 7 + recordLen(msg.self) : 0)
    case 'ping-req':
    case 'indirect-ack':
    case 'nack':
      return envelope(msg.type) + 1 + num('seq', msg.seq) + 1 + str('target', msg.target)
    case 'update':
      return envelope('update') + 1 + 10 + 2 + recordsLen(msg.records)
    case 'sync': {
      let n = envelope('sync') + 1 + str('digest', msg.digest) + 1 + 8 + (msg.reply ? 4 : 5)
      if (msg.join !== undefined) n += 1 + 7 + (msg.join ? 4 : 5)
      if (msg.records) n += 1 + 10 + 2 + recordsLen(msg.records)
      if (msg.tombstones) {
        const ts = msg.tombstones
        n += 1 + 13 + 2 + (ts.length > 0 ? ts.length - 1 : 0)
        // {"id":"<id>","incarnation":<n>}
        for (let i = 0; i < ts.length; i++) n += 2 + str('id', ts[i].id) + 1 + num('incarnation', ts[i].incarnation)
      }
      return n
    }
  }
}
