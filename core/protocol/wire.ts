// Wire encoding and validation of protocol messages. Everything from the network is untrusted:
// decodeMessage checks version, shape, types and sizes, and answers bad input with a WireError
// naming the reason (the shell logs and counts it; the node keeps running). Pure functions.

import { LIMITS } from './config.js'
import type { Evidence, MemberMeta, MemberRecord, Message, ProbeEvidence, Tombstone } from './types.js'

/** Protocol version carried in every message as `v`. New fields are optional; other versions are rejected. */
export const WIRE_VERSION = 1

/** Largest encoded message: a full-state sync of a large group. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/** Largest probe-class message (ping, ack, ping-req, indirect-ack, nack). */
export const MAX_PROBE_MESSAGE_BYTES = 8 * 1024
/** Largest broadcast update (gossipsub's own default max is 1 MiB; ours stays far below). */
export const MAX_UPDATE_BYTES = 256 * 1024
/** Records in one sync: the member limit plus tombstones. */
export const MAX_SYNC_RECORDS = LIMITS.maxMembers

export class WireError extends Error {
  override name = 'WireError'
  constructor(readonly reason: string) {
    super(reason)
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeMessage(msg: Message): Uint8Array {
  return encoder.encode(JSON.stringify({ v: WIRE_VERSION, ...msg }))
}

export function maxBytesFor(type: Message['type']): number {
  switch (type) {
    case 'ping':
    case 'ack':
    case 'ping-req':
    case 'indirect-ack':
    case 'nack':
      return MAX_PROBE_MESSAGE_BYTES
    case 'update':
      return MAX_UPDATE_BYTES
    case 'sync':
      return MAX_MESSAGE_BYTES
  }
}

/** Decode and validate; throws WireError with a reason fit for a log line. */
export function decodeMessage(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): Message {
  if (bytes.byteLength > maxBytes) throw new WireError(`message too large: ${bytes.byteLength} > ${maxBytes} bytes`)
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new WireError('message is not valid UTF-8 JSON')
  }
  const msg = validateMessage(raw)
  if (bytes.byteLength > maxBytesFor(msg.type)) {
    throw new WireError(`${msg.type} message too large: ${bytes.byteLength} > ${maxBytesFor(msg.type)} bytes`)
  }
  return msg
}

function fail(reason: string): never {
  throw new WireError(reason)
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function str(x: unknown, what: string, maxChars = 256): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > maxChars) fail(`${what} must be a string of 1..${maxChars} characters`)
  return x
}

function nat(x: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) fail(`${what} must be an integer in 0..${max}`)
  return x
}

function num(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${what} must be a finite number`)
  return x
}

function bool(x: unknown, what: string): boolean {
  if (typeof x !== 'boolean') fail(`${what} must be a boolean`)
  return x
}

const MEMBER_ID_CHARS = 128
const DIGEST_CHARS = 32

export function validateMeta(x: unknown, what = 'meta'): MemberMeta {
  if (!isObj(x)) fail(`${what} must be an object`)
  const name = x.name
  if (typeof name !== 'string' || name.length > LIMITS.nameChars) fail(`${what}.name must be a string of at most ${LIMITS.nameChars} characters`)
  if (!Array.isArray(x.addrs) || x.addrs.length > LIMITS.addrsPerMember) fail(`${what}.addrs must be an array of at most ${LIMITS.addrsPerMember}`)
  const addrs = x.addrs.map((a, i) => str(a, `${what}.addrs[${i}]`, LIMITS.addrChars))
  if (!isObj(x.tags)) fail(`${what}.tags must be an object`)
  const tags: Record<string, string> = {}
  for (const [k, v] of Object.entries(x.tags)) {
    if (typeof v !== 'string') fail(`${what}.tags.${k.slice(0, 32)} must be a string`)
    tags[k] = v
  }
  if (encoder.encode(JSON.stringify(tags)).byteLength > LIMITS.tagsBytes) fail(`${what}.tags larger than ${LIMITS.tagsBytes} bytes`)
  return { name, addrs, tags }
}

const OUTCOMES = new Set(['ack', 'timeout', 'refused', 'unreachable', 'nack'])
const RULES = new Set([
  'alive-record', 'refuted', 'probe-failed', 'connection-refused', 'suspect-gossip', 'suspicion-timeout',
  'failed-gossip', 'leave-announced', 'tombstone-expired', 'sync',
])

function validateEvidence(x: unknown): Evidence {
  if (!isObj(x)) fail('evidence must be an object')
  if (typeof x.rule !== 'string' || !RULES.has(x.rule)) fail('evidence.rule is unknown')
  const ev: Evidence = {
    rule: x.rule as Evidence['rule'],
    observer: str(x.observer, 'evidence.observer', MEMBER_ID_CHARS),
    atMs: num(x.atMs, 'evidence.atMs'),
  }
  if (x.source !== undefined) ev.source = str(x.source, 'evidence.source', MEMBER_ID_CHARS)
  if (x.timeoutMs !== undefined) ev.timeoutMs = num(x.timeoutMs, 'evidence.timeoutMs')
  if (x.strength !== undefined) {
    if (x.strength !== 'strong' && x.strength !== 'weak') fail('evidence.strength must be strong or weak')
    ev.strength = x.strength
  }
  if (x.probes !== undefined) {
    if (!Array.isArray(x.probes) || x.probes.length > LIMITS.evidenceProbes) fail(`evidence.probes must be an array of at most ${LIMITS.evidenceProbes}`)
    ev.probes = x.probes.map((p): ProbeEvidence => {
      if (!isObj(p)) fail('evidence.probes[] must be objects')
      if (typeof p.outcome !== 'string' || !OUTCOMES.has(p.outcome)) fail('evidence.probes[].outcome is unknown')
      const pe: ProbeEvidence = { by: str(p.by, 'probe.by', MEMBER_ID_CHARS), outcome: p.outcome as ProbeEvidence['outcome'], atMs: num(p.atMs, 'probe.atMs') }
      if (p.via !== undefined) pe.via = str(p.via, 'probe.via', MEMBER_ID_CHARS)
      return pe
    })
  }
  if (x.confirmations !== undefined) {
    if (!Array.isArray(x.confirmations) || x.confirmations.length > LIMITS.evidenceConfirmations) fail(`evidence.confirmations must be an array of at most ${LIMITS.evidenceConfirmations}`)
    ev.confirmations = x.confirmations.map((c) => str(c, 'evidence.confirmations[]', MEMBER_ID_CHARS))
  }
  return ev
}

const STATUSES = new Set(['alive', 'suspect', 'failed', 'left'])

export function validateRecord(x: unknown): MemberRecord {
  if (!isObj(x)) fail('record must be an object')
  if (typeof x.status !== 'string' || !STATUSES.has(x.status)) fail('record.status must be alive, suspect, failed or left')
  const rec: MemberRecord = {
    id: str(x.id, 'record.id', MEMBER_ID_CHARS),
    incarnation: nat(x.incarnation, 'record.incarnation', LIMITS.maxIncarnation),
    status: x.status as MemberRecord['status'],
  }
  if (x.meta !== undefined) rec.meta = validateMeta(x.meta, 'record.meta')
  if (x.evidence !== undefined) rec.evidence = validateEvidence(x.evidence)
  if (x.sig !== undefined) rec.sig = str(x.sig, 'record.sig', 256)
  if ((rec.status === 'alive' || rec.status === 'left') && rec.meta === undefined) fail(`a ${rec.status} record must carry meta`)
  return rec
}

function validateTombstone(x: unknown): Tombstone {
  if (!isObj(x)) fail('tombstone must be an object')
  return { id: str(x.id, 'tombstone.id', MEMBER_ID_CHARS), incarnation: nat(x.incarnation, 'tombstone.incarnation', LIMITS.maxIncarnation) }
}

export function validateMessage(raw: unknown): Message {
  if (!isObj(raw)) fail('message must be a JSON object')
  if (raw.v !== WIRE_VERSION) fail(`unsupported protocol version ${JSON.stringify(raw.v)} (this node speaks ${WIRE_VERSION})`)
  switch (raw.type) {
    case 'ping': {
      const m: Message = { type: 'ping', seq: nat(raw.seq, 'ping.seq'), digest: str(raw.digest, 'ping.digest', DIGEST_CHARS) }
      if (raw.requester !== undefined) m.requester = str(raw.requester, 'ping.requester', MEMBER_ID_CHARS)
      if (raw.suspect !== undefined) m.suspect = nat(raw.suspect, 'ping.suspect', LIMITS.maxIncarnation)
      return m
    }
    case 'ack': {
      if (raw.status !== 'alive' && raw.status !== 'left') fail('ack.status must be alive or left')
      const m: Message = {
        type: 'ack', seq: nat(raw.seq, 'ack.seq'), digest: str(raw.digest, 'ack.digest', DIGEST_CHARS),
        incarnation: nat(raw.incarnation, 'ack.incarnation', LIMITS.maxIncarnation), status: raw.status,
      }
      if (raw.self !== undefined) m.self = validateRecord(raw.self)
      return m
    }
    case 'ping-req':
      return { type: 'ping-req', seq: nat(raw.seq, 'ping-req.seq'), target: str(raw.target, 'ping-req.target', MEMBER_ID_CHARS) }
    case 'indirect-ack':
      return { type: 'indirect-ack', seq: nat(raw.seq, 'indirect-ack.seq'), target: str(raw.target, 'indirect-ack.target', MEMBER_ID_CHARS) }
    case 'nack':
      return { type: 'nack', seq: nat(raw.seq, 'nack.seq'), target: str(raw.target, 'nack.target', MEMBER_ID_CHARS) }
    case 'update': {
      if (!Array.isArray(raw.records) || raw.records.length === 0 || raw.records.length > LIMITS.maxRecordsPerUpdate) {
        fail(`update.records must be an array of 1..${LIMITS.maxRecordsPerUpdate}`)
      }
      return { type: 'update', records: raw.records.map(validateRecord) }
    }
    case 'sync': {
      const m: Message = { type: 'sync', digest: str(raw.digest, 'sync.digest', DIGEST_CHARS), reply: bool(raw.reply, 'sync.reply') }
      if (raw.join !== undefined) m.join = bool(raw.join, 'sync.join')
      if (raw.records !== undefined) {
        if (!Array.isArray(raw.records) || raw.records.length > MAX_SYNC_RECORDS) fail(`sync.records must be an array of at most ${MAX_SYNC_RECORDS}`)
        m.records = raw.records.map(validateRecord)
      }
      if (raw.tombstones !== undefined) {
        if (!Array.isArray(raw.tombstones) || raw.tombstones.length > LIMITS.maxTombstones) fail(`sync.tombstones must be an array of at most ${LIMITS.maxTombstones}`)
        m.tombstones = raw.tombstones.map(validateTombstone)
      }
      return m
    }
    default:
      fail(`unknown message type ${JSON.stringify(String(raw.type).slice(0, 32))}`)
  }
}
