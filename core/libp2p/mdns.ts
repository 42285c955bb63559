// mDNS discovery for one Rollcall group, optionally confined to one network interface.
// Written on multicast-dns directly because @libp2p/mdns has no interface option: it joins the
// multicast group on every interface and its queries leaked onto other segments (STACK-NOTES).
// Wire format follows the libp2p mDNS spec as @libp2p/mdns does (PTR to "<name>.<service>",
// TXT "dnsaddr=<multiaddr>/p2p/<id>"), but the service name carries the group, so groups never
// mix, and the instance name is the peer id.

import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import dgram, { type RemoteInfo } from 'node:dgram'
import multicastDns from 'multicast-dns'
import dnsPacket, { type Answer } from 'dns-packet'
import { multiaddr } from '@multiformats/multiaddr'
import { validateRecord } from '../protocol/wire.js'
import type { MemberRecord } from '../protocol/types.js'

/**
 * Every node queries when it starts and every member answers, so a new machine finds the group at
 * once; the periodic query only heals what reconnect attempts miss (two groups that never met).
 * Every member answers every query, so each node queries every `intervalMs × max(1, size / 10)`
 * (size: the members it is connected to, itself included), ±25 % so a lab started at once does not
 * ask in step: the whole group asks about 10 times per intervalMs whatever its size, and each
 * member sends about 10 answers per intervalMs.
 */
export const MDNS_DEFAULT_INTERVAL_MS = 60_000
/** The group size above which the periodic query slows down (see MDNS_DEFAULT_INTERVAL_MS). */
const QUERIES_PER_INTERVAL_PER_GROUP = 10
/**
 * Answer multicast queries at most this often; later ones in the window get one deferred answer
 * (and the asker of a start query an immediate one of its own: see startQueryAnswer).
 */
export const MDNS_MIN_RESPONSE_GAP_MS = 1_000
/**
 * How a query from port 5353 (a node's start query) is answered. For this long after our own
 * start, or while we have no group connection, by multicast: a lab starting at once is new on
 * every side, and every member hearing every answer is how late starters get found (fault lab,
 * N = 40: forming took 36–43 s either way, 3 runs each; answering only the asker, 39–41 s against
 * 38–39 s). After that, by unicast to the asker alone (RFC 6762 §5.4), because the group already
 * knows us: one machine restarting into a settled group of 40 then makes 39 answers, not 39
 * answers read by all 40 members at the moment its join needs the CPU (fault lab, N = 40, 4
 * restarts each: seen alive by all in 422–591 ms against 799–1,247 ms).
 */
export const MDNS_MULTICAST_ANSWER_WINDOW_MS = 30_000
/**
 * Unicast answers (to one-shot queries, RFC 6762 §6.7) per second at most: a whole lab starting at
 * once is answered, a flood of queries is not amplified. Answers over the limit are dropped; the
 * asker still hears every later start announcement and asks again after an interval.
 */
export const MDNS_MAX_UNICAST_ANSWERS_PER_S = 50
/** TTL of records in unicast answers (RFC 6762 §6.7: at most 10 s). */
const UNICAST_ANSWER_TTL_S = 10
/** Largest mDNS message read on the query socket (RFC 6762 §17: 9,000 bytes). */
const MAX_MDNS_MESSAGE_BYTES = 9_000
const MDNS_GROUP = '224.0.0.251'
/** TXT strings are limited to 255 bytes (RFC 6763 §6.1); more addrs than this is not a lab machine. */
const MAX_ANNOUNCED_ADDRS = 8
const MAX_TXT_BYTES = 255
/** Per response packet: ignore the rest, so a hostile packet cannot make us parse thousands of records. */
const MAX_PEERS_PER_RESPONSE = 16
const MAX_ADDRS_PER_PEER = 16
/** DNS labels are at most 63 bytes. */
const MAX_LABEL_CHARS = 63
/**
 * A member's own signed alive record rides in its announcements as JSON, split over TXT strings
 * of at most this many bytes ("rr=" + bytes), in one TXT record so the order is kept.
 */
const RECORD_CHUNK_BYTES = 240
/** Largest record carried (JSON bytes); a larger one (many addrs, big tags) is left to sync. */
export const MAX_ANNOUNCED_RECORD_BYTES = 2_048
const RECORD_PREFIX = 'rr='
/** HMAC-SHA256 of the record JSON under the group key, when the group has one. */
const RECORD_MAC_PREFIX = 'rm='
/** TXT strings read from one TXT record when looking for a carried record: the chunks and the MAC. */
const MAX_RECORD_TXT_STRINGS = Math.ceil(MAX_ANNOUNCED_RECORD_BYTES / RECORD_CHUNK_BYTES) + 1

export class MdnsInterfaceError extends Error {
  override name = 'MdnsInterfaceError'
}

export interface ResolvedInterface {
  name: string
  address: string
  netmask: string
  internal: boolean
}

/** The IPv4 address of interface `name`; a clear error listing the available interfaces otherwise. */
export function resolveInterface(name: string): ResolvedInterface {
  const all = networkInterfaces()
  const describe = (): string =>
    Object.entries(all)
      .map(([n, addrs]) => `${n} (${(addrs ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address).join(', ') || 'no IPv4'})`)
      .join(', ')
  const entries = all[name]
  if (entries === undefined) throw new MdnsInterfaceError(`unknown network interface "${name}"; available: ${describe()}`)
  const v4 = entries.find((a) => a.family === 'IPv4')
  if (v4 === undefined) throw new MdnsInterfaceError(`network interface "${name}" has no IPv4 address; available: ${describe()}`)
  return { name, address: v4.address, netmask: v4.netmask, internal: v4.internal }
}

/**
 * `_rollcall-<group>._tcp.local`, with the group reduced to DNS-safe characters plus a hash of
 * the exact group string, so "Lab A" and "lab-a" stay apart even though they sanitize alike.
 */
export function mdnsServiceName(group: string): string {
  const hash = createHash('sha256').update(group).digest('hex').slice(0, 8)
  const prefix = '_rollcall-'
  const room = MAX_LABEL_CHARS - prefix.length - hash.length - 1
  const safe = group
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, room)
    .replace(/-+$/, '')
  return `${prefix}${safe === '' ? '' : safe + '-'}${hash}._tcp.local`
}

export interface MdnsPeer {
  id: string
  /** Multiaddrs with /p2p/<id>. */
  addrs: string[]
  /**
   * The peer's own alive record, as it announced it: shape-checked and naming the same peer, but
   * its signature is for the protocol to check (MODEL.md §2). With a group key, only records whose
   * MAC proves the key are kept; without one, records that carry a MAC are dropped (another group's).
   */
  record?: MemberRecord
}

export interface MdnsDiscoveryOptions {
  group: string
  peerId: string
  /** Our current dialable multiaddrs (with /p2p/); filtered here to the chosen interface. */
  getAddrs(): string[]
  /** Members we are connected to, for the query interval (default 0: query every intervalMs). */
  connectedPeers?(): number
  /** Interface name such as "eth0". Absent: all interfaces (multicast-dns default), loopback addrs not announced. */
  interface?: string
  intervalMs?: number
  minResponseGapMs?: number
  /** See MDNS_MULTICAST_ANSWER_WINDOW_MS. */
  multicastAnswerWindowMs?: number
  /** UDP port; 5353 unless a test wants its own. */
  port?: number
  onPeer(peer: MdnsPeer): void
  /**
   * Our own signed alive record, carried in our announcements so members that hear one learn our
   * new life at once, with no connection (absent: records are not carried).
   */
  selfRecord?(): MemberRecord | undefined
  /** The group key (libp2p pnet swarm key bytes), when the group has one: records carry its MAC. */
  groupKey?: Uint8Array
  /**
   * Announce and send the start query as soon as start() runs (default true). A node whose record
   * exists only once it joins passes false and calls announce() then: its first announcement
   * carries the record, and goes out before the members' answers to its start query arrive (each
   * took the restarted agent ~2 ms to read, and at N = 10 they delayed its announcement ~20–35 ms).
   */
  announceOnStart?: boolean
  log?(level: 'info' | 'warn', msg: string, data?: Record<string, unknown>): void
}

/** What discovery sent and heard (packets), for `rollcall status` and the lab. */
export interface MdnsStats {
  queriesSent: number
  /** Answers to our queries, by unicast to our query socket. */
  unicastAnswersReceived: number
  /**
   * Responses heard on port 5353: start announcements, and answers to queries from port 5353 (by
   * multicast from members in their first MDNS_MULTICAST_ANSWER_WINDOW_MS, by unicast to the asker after).
   */
  responsesReceived: number
  /** Answers by unicast: to one-shot queries, and (once settled) to queries from port 5353. */
  unicastAnswersSent: number
  /** Start announcements, and answers to queries from port 5353 in our first window. */
  multicastResponsesSent: number
}

export class MdnsDiscovery {
  private readonly counters: MdnsStats = { queriesSent: 0, unicastAnswersReceived: 0, responsesReceived: 0, unicastAnswersSent: 0, multicastResponsesSent: 0 }
  readonly serviceName: string
  private readonly iface: ResolvedInterface | undefined
  private readonly intervalMs: number
  private readonly minResponseGapMs: number
  private readonly multicastAnswerWindowMs: number
  private startedAtMs = 0
  private startQueryId: number | undefined
  /** announceOnStart false: the start query waits for the first announce(). */
  private startQueryPending = false
  private mdns: multicastDns.MulticastDNS | undefined
  /** Our queries go out from this socket's ephemeral port, so answers come back to us alone, by unicast. */
  private querySocket: dgram.Socket | undefined
  /** DNS ids of our last two queries: an answer to anything else is not ours. */
  private queryIds: number[] = []
  private unicastWindowStartMs = 0
  private unicastAnswersInWindow = 0
  private queryTimer: ReturnType<typeof setTimeout> | undefined
  private responseTimer: ReturnType<typeof setTimeout> | undefined
  private lastResponseAtMs = 0
  private warnedNothingToAnnounce = false

  constructor(private readonly opts: MdnsDiscoveryOptions) {
    this.serviceName = mdnsServiceName(opts.group)
    this.iface = opts.interface !== undefined ? resolveInterface(opts.interface) : undefined
    this.intervalMs = opts.intervalMs ?? MDNS_DEFAULT_INTERVAL_MS
    this.minResponseGapMs = opts.minResponseGapMs ?? MDNS_MIN_RESPONSE_GAP_MS
    this.multicastAnswerWindowMs = opts.multicastAnswerWindowMs ?? MDNS_MULTICAST_ANSWER_WINDOW_MS
    if (opts.peerId.length > MAX_LABEL_CHARS) throw new TypeError(`peer id too long for a DNS label: ${opts.peerId}`)
  }

  stats(): MdnsStats {
    return { ...this.counters }
  }

  /** The interface discovery is confined to, if any. */
  get interfaceAddress(): string | undefined {
    return this.iface?.address
  }

  async start(): Promise<void> {
    if (this.mdns !== undefined) return
    this.startedAtMs = Date.now()
    const mdns = multicastDns({
      port: this.opts.port ?? 5353,
      // interface = the NIC's IPv4 sets both the group membership and the outgoing interface;
      // bind to 0.0.0.0 because a socket bound to the unicast IP receives no multicast.
      ...(this.iface !== undefined ? { interface: this.iface.address, bind: '0.0.0.0' } : {}),
    })
    this.mdns = mdns
    mdns.on('query', (q: multicastDns.QueryPacket, rinfo: RemoteInfo) => this.onQuery(q, rinfo))
    mdns.on('response', (r: multicastDns.ResponsePacket, rinfo: RemoteInfo) => {
      this.counters.responsesReceived++
      this.onResponse(r, rinfo)
    })
    mdns.on('warning', (err: Error) => this.opts.log?.('warn', 'mdns warning', { error: String(err) }))
    mdns.on('error', (err: Error) => this.opts.log?.('warn', 'mdns error', { error: String(err) }))
    await new Promise<void>((resolve) => {
      mdns.once('ready', resolve)
      mdns.once('error', () => resolve())
    })
    await this.openQuerySocket()
    // Announce (RFC 6762 §8.3) and query at once, so peers already running and late joiners meet
    // without waiting an interval. This first query goes out from port 5353, so members still in
    // their first MDNS_MULTICAST_ANSWER_WINDOW_MS answer it to the whole segment: when a lab starts
    // at once, every member hears of every other many times over (fault lab, N = 40, 3 runs each:
    // forming took 62–74 s when only the asker heard them, 56–61 s so). Settled members answer
    // it to us alone.
    if (this.opts.announceOnStart !== false) {
      this.respond()
      this.queryWholeSegment()
    } else {
      this.startQueryPending = true
    }
    this.scheduleQuery()
  }

  /**
   * Announce our records (and our own alive record) to the segment now, or once MDNS_MIN_RESPONSE_GAP_MS
   * after the last multicast response (also how multicast queries are answered). The node calls it
   * at its join, so members learn its new life from one packet; the first call also sends the start
   * query held back by announceOnStart false.
   */
  announce(): void {
    if (this.mdns === undefined) return
    const sinceMs = Date.now() - this.lastResponseAtMs
    if (sinceMs >= this.minResponseGapMs) {
      clearTimeout(this.responseTimer)
      this.responseTimer = undefined
      this.respond()
    } else if (this.responseTimer === undefined) {
      this.responseTimer = setTimeout(() => {
        this.responseTimer = undefined
        this.respond()
      }, this.minResponseGapMs - sinceMs)
    }
    if (this.startQueryPending) {
      this.startQueryPending = false
      this.queryWholeSegment()
    }
  }

  /** The wait before the next periodic query (see MDNS_DEFAULT_INTERVAL_MS). */
  nextQueryDelayMs(random = Math.random()): number {
    const size = 1 + Math.max(0, this.opts.connectedPeers?.() ?? 0)
    return Math.round(this.intervalMs * Math.max(1, size / QUERIES_PER_INTERVAL_PER_GROUP) * (0.75 + 0.5 * random))
  }

  private scheduleQuery(): void {
    if (this.mdns === undefined) return
    this.queryTimer = setTimeout(() => {
      this.query()
      this.scheduleQuery()
    }, this.nextQueryDelayMs())
  }

  async stop(): Promise<void> {
    clearTimeout(this.queryTimer)
    clearTimeout(this.responseTimer)
    this.queryTimer = undefined
    this.responseTimer = undefined
    const mdns = this.mdns
    this.mdns = undefined
    const qs = this.querySocket
    this.querySocket = undefined
    if (qs !== undefined) await new Promise<void>((resolve) => qs.close(() => resolve()))
    if (mdns !== undefined) await new Promise<void>((resolve) => mdns.destroy(() => resolve()))
  }

  /**
   * A one-shot query (RFC 6762 §5.1, §6.7) from an ephemeral port: every member answers us by
   * unicast, so only the asker reads the N answers. (A query from port 5353 is answered by
   * multicast, and then every member reads every answer: N² packets per interval. In a settled
   * group of 40 that was about half of an idle agent's CPU.) Our start announcement still goes to everyone by multicast.
   */
  private async openQuerySocket(): Promise<void> {
    const qs = dgram.createSocket({ type: 'udp4' })
    qs.on('message', (buf, rinfo) => this.onUnicastAnswer(buf, rinfo))
    qs.on('error', (err) => this.opts.log?.('warn', 'mdns query socket error', { error: String(err) }))
    try {
      await new Promise<void>((resolve, reject) => {
        qs.once('error', reject)
        qs.bind(0, this.iface?.address, () => {
          qs.removeListener('error', reject)
          resolve()
        })
      })
      qs.setMulticastTTL(255)
      if (this.iface !== undefined) qs.setMulticastInterface(this.iface.address)
      this.querySocket = qs
    } catch (err) {
      this.opts.log?.('warn', 'mdns query socket unavailable; queries are not sent', { error: String(err) })
      qs.close()
    }
  }

  /** A query from port 5353: answered to the whole segment by members still in their first window, to us alone by the rest. */
  private queryWholeSegment(): void {
    this.counters.queriesSent++
    // A non-zero id (RFC 6762 §18.1 allows it) so we know our own query when the multicast loops back.
    this.startQueryId = randomInt(1, 0xffff)
    this.mdns?.query({ id: this.startQueryId, questions: [{ name: this.serviceName, type: 'PTR' }] }, (err) => {
      if (err) this.opts.log?.('warn', 'mdns query failed', { error: String(err) })
    })
  }

  /** Send one query now, answered to us alone (the periodic query; see openQuerySocket). */
  query(): void {
    const qs = this.querySocket
    if (qs === undefined) return
    const id = randomInt(1, 0xffff)
    this.queryIds = [id, ...this.queryIds].slice(0, 2)
    const buf = dnsPacket.encode({ type: 'query', id, questions: [{ name: this.serviceName, type: 'PTR', class: 'IN' }] })
    this.counters.queriesSent++
    qs.send(buf, this.opts.port ?? 5353, MDNS_GROUP, (err) => {
      if (err) this.opts.log?.('warn', 'mdns query failed', { error: String(err) })
    })
  }

  private onUnicastAnswer(buf: Buffer, rinfo: RemoteInfo): void {
    if (buf.length > MAX_MDNS_MESSAGE_BYTES) return
    let r: dnsPacket.Packet
    try {
      r = dnsPacket.decode(buf)
    } catch {
      return
    }
    if (r.type !== 'response' || r.id === undefined || !this.queryIds.includes(r.id)) return
    this.counters.unicastAnswersReceived++
    this.onResponse(r as multicastDns.ResponsePacket, rinfo)
  }

  /** Our multiaddrs as announced: only the chosen interface's, never loopback unless the interface is lo. */
  announcedAddrs(): string[] {
    const out: string[] = []
    for (const a of this.opts.getAddrs()) {
      const ip = ipOf(a)
      if (ip === undefined || !a.includes(`/p2p/${this.opts.peerId}`)) continue
      if (this.iface !== undefined) {
        if (ip !== this.iface.address) continue
      } else if (isLoopback(ip)) {
        continue
      }
      if (`dnsaddr=${a}`.length > MAX_TXT_BYTES) continue
      out.push(a)
      if (out.length >= MAX_ANNOUNCED_ADDRS) break
    }
    return out
  }

  private fromOurSegment(rinfo: RemoteInfo): boolean {
    // A 0.0.0.0-bound socket also gets multicast joined by other sockets on other interfaces.
    return this.iface === undefined || inSubnet(rinfo.address, this.iface.address, this.iface.netmask)
  }

  private onQuery(q: multicastDns.QueryPacket, rinfo: RemoteInfo): void {
    if (!this.fromOurSegment(rinfo)) return
    const question = q.questions.find((x) => x.name === this.serviceName && ((x.type as string) === 'PTR' || (x.type as string) === 'ANY'))
    if (question === undefined) return
    if (rinfo.port !== (this.opts.port ?? 5353)) {
      if (this.isOurQuerySocket(rinfo)) return
      this.respondUnicast(q, question, rinfo)
      return
    }
    if (q.id === this.startQueryId) return // our own start query, looped back (its id is never 0)
    const nowMs = Date.now()
    const how = startQueryAnswer(nowMs - this.startedAtMs, this.multicastAnswerWindowMs, this.opts.connectedPeers?.() ?? 0, nowMs - this.lastResponseAtMs, this.minResponseGapMs)
    if (how !== 'multicast') this.respondUnicast(q, question, rinfo)
    if (how !== 'unicast') this.announce()
  }

  private isOurQuerySocket(rinfo: RemoteInfo): boolean {
    const qs = this.querySocket
    if (qs === undefined || rinfo.port !== qs.address().port) return false
    return this.iface !== undefined ? rinfo.address === this.iface.address : Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === rinfo.address))
  }

  /**
   * Answer a query to its sender alone: a one-shot query (RFC 6762 §6.7: same id, the question
   * repeated, TTL ≤ 10 s), or, once we are settled, a start query from port 5353 (§5.4).
   */
  private respondUnicast(q: multicastDns.QueryPacket, question: multicastDns.QueryPacket['questions'][number], rinfo: RemoteInfo): void {
    const now = Date.now()
    if (now - this.unicastWindowStartMs >= 1_000) {
      this.unicastWindowStartMs = now
      this.unicastAnswersInWindow = 0
    }
    if (this.unicastAnswersInWindow >= MDNS_MAX_UNICAST_ANSWERS_PER_S) return
    // Our record goes to a node starting (its query comes from port 5353), not to periodic
    // one-shot queries: those only look for groups that never met, and come every minute.
    const answers = this.answers(UNICAST_ANSWER_TTL_S, rinfo.port === (this.opts.port ?? 5353))
    if (answers === undefined) return
    this.unicastAnswersInWindow++
    this.counters.unicastAnswersSent++
    this.mdns?.respond({ id: q.id, questions: [question], answers } as multicastDns.ResponseOutgoingPacket, { port: rinfo.port, address: rinfo.address }, (err) => {
      if (err) this.opts.log?.('warn', 'mdns unicast answer failed', { error: String(err), to: rinfo.address })
    })
  }

  /** Our PTR and TXT records (and our alive record if `withRecord`); undefined (and one warning) when there is no address to announce. */
  private answers(ttlS: number, withRecord: boolean): Answer[] | undefined {
    const addrs = this.announcedAddrs()
    if (addrs.length === 0) {
      if (!this.warnedNothingToAnnounce) {
        this.warnedNothingToAnnounce = true
        this.opts.log?.('warn', 'mdns has no address to announce (listen on the interface or on 0.0.0.0)', { interface: this.iface?.name, addrs: this.opts.getAddrs() })
      }
      return undefined
    }
    const instance = `${this.opts.peerId}.${this.serviceName}`
    const answers: Answer[] = [{ name: this.serviceName, type: 'PTR', class: 'IN', ttl: ttlS, data: instance }]
    for (const a of addrs) answers.push({ name: instance, type: 'TXT', class: 'IN', ttl: ttlS, data: `dnsaddr=${a}` })
    const rec = withRecord ? this.opts.selfRecord?.() : undefined
    const strings = rec !== undefined && rec.id === this.opts.peerId ? encodeRecordTxt(rec, this.opts.groupKey) : undefined
    if (strings !== undefined) answers.push({ name: instance, type: 'TXT', class: 'IN', ttl: ttlS, data: strings })
    return answers
  }

  /** Announce our records to the segment by multicast (at start, and to multicast queries). */
  private respond(): void {
    const mdns = this.mdns
    if (mdns === undefined) return
    const answers = this.answers(120, true)
    if (answers === undefined) return
    this.lastResponseAtMs = Date.now()
    this.counters.multicastResponsesSent++
    mdns.respond(answers, (err) => {
      if (err) this.opts.log?.('warn', 'mdns response failed', { error: String(err) })
    })
  }

  private onResponse(r: multicastDns.ResponsePacket, rinfo: RemoteInfo): void {
    if (!this.fromOurSegment(rinfo)) return
    try {
      for (const peer of parseResponse(r, this.serviceName, this.opts.groupKey).slice(0, MAX_PEERS_PER_RESPONSE)) {
        if (peer.id === this.opts.peerId) continue
        const addrs = this.iface === undefined ? peer.addrs : peer.addrs.filter((a) => {
          const ip = ipOf(a)
          return ip !== undefined && inSubnet(ip, this.iface!.address, this.iface!.netmask)
        })
        if (addrs.length > 0) this.opts.onPeer(peer.record !== undefined ? { id: peer.id, addrs, record: peer.record } : { id: peer.id, addrs })
      }
    } catch (err) {
      this.opts.log?.('warn', 'mdns response ignored', { error: String(err), from: rinfo.address })
    }
  }
}

/**
 * Whether to answer a query from port 5353 by multicast (see MDNS_MULTICAST_ANSWER_WINDOW_MS):
 * while we are new (`sinceStartMs` < `windowMs`) or alone (no group connection); else by unicast.
 */
export function answerByMulticast(sinceStartMs: number, windowMs: number, connectedPeers: number): boolean {
  return sinceStartMs < windowMs || connectedPeers === 0
}

/**
 * How to answer a start query (a query from port 5353):
 * - 'unicast': to the asker alone, once we are settled in a group (see answerByMulticast);
 * - 'multicast': to the whole segment, now, while we are new or alone;
 * - 'unicast-and-multicast-later': the same, but our last multicast response went out less than
 *   `minResponseGapMs` ago, so the segment's answer waits for the gap to pass: the asker gets one
 *   to itself at once. In a lab starting at once every member has just answered someone, so the
 *   last agent to start heard of each member only when that member's deferred answer went out, up
 *   to a whole gap later (fault lab, namespaces: the group formed ~1 s after the last agent was up,
 *   at N = 10 and 20 alike). The extra unicast answers are one per member per start, read by the
 *   asker alone, and capped with the rest (MDNS_MAX_UNICAST_ANSWERS_PER_S).
 */
export type StartQueryAnswer = 'unicast' | 'multicast' | 'unicast-and-multicast-later'

export function startQueryAnswer(sinceStartMs: number, windowMs: number, connectedPeers: number, sinceLastMulticastMs: number, minResponseGapMs: number): StartQueryAnswer {
  if (!answerByMulticast(sinceStartMs, windowMs, connectedPeers)) return 'unicast'
  return sinceLastMulticastMs >= minResponseGapMs ? 'multicast' : 'unicast-and-multicast-later'
}

/** The TXT strings that carry `rec` (JSON in RECORD_CHUNK_BYTES pieces, then the group-key MAC); undefined when too large. */
export function encodeRecordTxt(rec: MemberRecord, groupKey?: Uint8Array): Buffer[] | undefined {
  // The statement and its signature only: evidence stays with the protocol's own messages.
  const carried: MemberRecord = { id: rec.id, incarnation: rec.incarnation, status: rec.status, ...(rec.meta !== undefined ? { meta: rec.meta } : {}), ...(rec.sig !== undefined ? { sig: rec.sig } : {}) }
  const json = Buffer.from(JSON.stringify(carried), 'utf8')
  if (json.length > MAX_ANNOUNCED_RECORD_BYTES) return undefined
  const out: Buffer[] = []
  for (let i = 0; i < json.length; i += RECORD_CHUNK_BYTES) out.push(Buffer.concat([Buffer.from(RECORD_PREFIX), json.subarray(i, i + RECORD_CHUNK_BYTES)]))
  if (groupKey !== undefined) out.push(Buffer.from(RECORD_MAC_PREFIX + recordMac(json, groupKey)))
  return out
}

function recordMac(json: Uint8Array, groupKey: Uint8Array): string {
  return createHmac('sha256', groupKey).update('rollcall/mdns-record/1\n').update(json).digest('base64')
}

/**
 * The record a peer's TXT strings carry, if any and if acceptable: at most
 * MAX_ANNOUNCED_RECORD_BYTES of JSON, a valid record shape (wire.validateRecord), status alive,
 * naming `id`, and a MAC that matches `groupKey` exactly when we have one (see MdnsPeer.record).
 */
export function decodeRecordTxt(strings: Uint8Array[], id: string, groupKey?: Uint8Array): MemberRecord | undefined {
  const parts: Uint8Array[] = []
  let bytes = 0
  let mac: string | undefined
  for (const s of strings) {
    const b = Buffer.from(s.buffer, s.byteOffset, s.byteLength)
    if (b.subarray(0, RECORD_PREFIX.length).toString('latin1') === RECORD_PREFIX) {
      bytes += b.length - RECORD_PREFIX.length
      if (bytes > MAX_ANNOUNCED_RECORD_BYTES) return undefined
      parts.push(b.subarray(RECORD_PREFIX.length))
    } else if (b.subarray(0, RECORD_MAC_PREFIX.length).toString('latin1') === RECORD_MAC_PREFIX) {
      mac = b.subarray(RECORD_MAC_PREFIX.length).toString('latin1')
    }
  }
  if (parts.length === 0) return undefined
  const json = Buffer.concat(parts)
  if (groupKey !== undefined) {
    if (mac === undefined) return undefined
    const want = Buffer.from(recordMac(json, groupKey), 'latin1')
    const got = Buffer.from(mac, 'latin1')
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined
  } else if (mac !== undefined) {
    return undefined
  }
  let rec: MemberRecord
  try {
    rec = validateRecord(JSON.parse(json.toString('utf8')))
  } catch {
    return undefined
  }
  return rec.id === id && rec.status === 'alive' && rec.meta !== undefined ? rec : undefined
}

/** Peers announced in a response for `serviceName`: PTR answers, their TXT dnsaddr records (answers or additionals), and any record they carry. */
export function parseResponse(r: { answers?: Answer[]; additionals?: Answer[] }, serviceName: string, groupKey?: Uint8Array): MdnsPeer[] {
  const records = [...(r.answers ?? []), ...(r.additionals ?? [])]
  const suffix = `.${serviceName}`
  const peers: MdnsPeer[] = []
  for (const ptr of records) {
    if (ptr.type !== 'PTR' || ptr.name !== serviceName || typeof ptr.data !== 'string' || !ptr.data.endsWith(suffix)) continue
    const instance = ptr.data
    const id = instance.slice(0, -suffix.length)
    if (id.length === 0 || id.length > MAX_LABEL_CHARS || peers.some((p) => p.id === id)) continue
    const addrs: string[] = []
    let record: MemberRecord | undefined
    for (const txt of records) {
      if (txt.type !== 'TXT' || txt.name !== instance) continue
      const data = Array.isArray(txt.data) ? txt.data : [txt.data]
      if (record === undefined && data.length > 0) record = decodeRecordTxt(data.slice(0, MAX_RECORD_TXT_STRINGS).map((d) => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d)), id, groupKey)
      for (const d of data) {
        const s = typeof d === 'string' ? d : Buffer.from(d).toString('utf8')
        if (!s.startsWith('dnsaddr=') || addrs.length >= MAX_ADDRS_PER_PEER) continue
        const a = s.slice('dnsaddr='.length)
        try {
          const ma = multiaddr(a)
          const p2p = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
          // An address must name the same peer as the instance: no pointing others at a third party.
          if (p2p === id) addrs.push(ma.toString())
        } catch {
          // not a multiaddr: skip this one, keep the rest
        }
      }
    }
    if (addrs.length > 0) peers.push(record !== undefined ? { id, addrs, record } : { id, addrs })
  }
  return peers
}

function ipOf(addr: string): string | undefined {
  try {
    const c = multiaddr(addr).getComponents()[0]
    return c !== undefined && (c.name === 'ip4' || c.name === 'ip6') ? c.value : undefined
  } catch {
    return undefined
  }
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1'
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    const v = Number(p)
    if (!Number.isInteger(v) || v < 0 || v > 255 || p === '') return undefined
    n = n * 256 + v
  }
  return n
}

export function inSubnet(ip: string, ifaceIp: string, netmask: string): boolean {
  const a = ipv4ToInt(ip)
  const b = ipv4ToInt(ifaceIp)
  const m = ipv4ToInt(netmask)
  if (a === undefined || b === undefined || m === undefined) return false
  // >>> 0 keeps the AND unsigned
  return ((a & m) >>> 0) === ((b & m) >>> 0)
}
