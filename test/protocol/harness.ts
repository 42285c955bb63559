// Helpers for driving SwimInstance by hand in unit tests.
import { SimKeyring } from '../../core/protocol/auth.js'
import { LOCAL_PROFILE, resolveConfig, type ProtocolConfig } from '../../core/protocol/config.js'
import { SwimInstance } from '../../core/protocol/swim.js'
import type { Decision, MemberMeta, MemberRecord, Message, MembershipEvent, Random } from '../../core/protocol/types.js'

export function seqRandom(seed = 1): Random {
  let s = seed >>> 0
  return {
    next() {
      s = (s + 0x6d2b79f5) >>> 0
      let t = s
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    },
  }
}

export const keyring = new SimKeyring(42)
export const meta = (name: string): MemberMeta => ({ name, addrs: [`/ip4/127.0.0.1/tcp/${name.length}`], tags: {} })

/** A signed alive record for member `id`, as it would sign it itself. */
export function aliveRecord(id: string, incarnation = 1, name = id): MemberRecord {
  const rec: MemberRecord = { id, incarnation, status: 'alive', meta: meta(name) }
  rec.sig = keyring.forMember(id).sign(rec)
  return rec
}

export function leftRecord(id: string, incarnation = 1, name = id): MemberRecord {
  const rec: MemberRecord = { id, incarnation, status: 'left', meta: meta(name) }
  rec.sig = keyring.forMember(id).sign(rec)
  return rec
}

export function makeNode(id = 'me', over: Partial<ProtocolConfig> = {}, incarnation = 1) {
  const config = resolveConfig(LOCAL_PROFILE, over)
  const node = new SwimInstance({ id, meta: meta(id), config, random: seqRandom(7), auth: keyring.forMember(id), incarnation, nowMs: 0 })
  return node
}

/**
 * Join `node` and feed it a sync carrying the given members, so it starts joined with a full view
 * and (unless `connected` is false) an open connection to each, as a node that has run a while has.
 */
export function joinWith(node: SwimInstance, peers: string[], nowMs = 0, connected = true): Decision[] {
  const out = node.handle({ type: 'join', nowMs })
  const records = peers.map((p) => aliveRecord(p))
  out.push(...node.handle({ type: 'receive', nowMs, from: peers[0], msg: { type: 'sync', digest: 'x', records, reply: false } }))
  if (connected) for (const p of peers) out.push(...node.handle({ type: 'connected', nowMs, peer: p }))
  return out
}

export const sends = (ds: Decision[], type?: Message['type']) =>
  ds.filter((d): d is Extract<Decision, { type: 'send' }> => d.type === 'send' && (!type || d.msg.type === type))
export const broadcasts = (ds: Decision[]) => ds.filter((d): d is Extract<Decision, { type: 'broadcast' }> => d.type === 'broadcast')
export const events = (ds: Decision[], type?: MembershipEvent['type']) =>
  ds.filter((d): d is Extract<Decision, { type: 'event' }> => d.type === 'event' && (!type || d.event.type === type)).map((d) => d.event)

/** Tick the node at each of its deadlines up to `untilMs`, collecting decisions (bounded). */
export function runUntil(node: SwimInstance, untilMs: number, onDecisions?: (ds: Decision[], nowMs: number) => void): Decision[] {
  const all: Decision[] = []
  for (let i = 0; i < 100_000; i++) {
    const t = node.nextDeadlineMs()
    if (t > untilMs) break
    const ds = node.handle({ type: 'tick', nowMs: t })
    onDecisions?.(ds, t)
    all.push(...ds)
  }
  return all
}
