// mDNS: pure parts tested directly; the real thing only inside network namespaces this file
// creates (never in the machine's own namespace), with each node a separate process.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { networkInterfaces } from 'node:os'
import { fileURLToPath } from 'node:url'
import { answerByMulticast, decodeRecordTxt, startQueryAnswer, encodeRecordTxt, inSubnet, MAX_ANNOUNCED_RECORD_BYTES, MdnsDiscovery, MdnsInterfaceError, mdnsServiceName, parseResponse, resolveInterface } from '../../core/libp2p/mdns.js'
import type { MemberRecord } from '../../core/protocol/types.js'

const ID_A = '12D3KooWNZT6rPDktynL8h7z43FCCfW5vPZemzj3qrx4ndAXvLxz'
const ID_B = '12D3KooWCx3dmdixDktJbF57KiZB35qz26tGNKEqX3Nw5mmHPgzJ'

describe('mdnsServiceName', () => {
  it.each([
    ['lab-b12', /^_rollcall-lab-b12-[0-9a-f]{8}\._tcp\.local$/],
    ['Lab B12 / Room 3', /^_rollcall-lab-b12-room-3-[0-9a-f]{8}\._tcp\.local$/],
    ['ü', /^_rollcall-[0-9a-f]{8}\._tcp\.local$/],
  ])('%s → a DNS-safe name', (group, re) => {
    expect(mdnsServiceName(group)).toMatch(re)
  })

  it('keeps groups apart that sanitize alike, and fits a DNS label', () => {
    expect(mdnsServiceName('lab a')).not.toBe(mdnsServiceName('lab-a'))
    expect(mdnsServiceName('x'.repeat(64)).split('.')[0].length).toBeLessThanOrEqual(63)
  })
})

describe('parseResponse', () => {
  const svc = mdnsServiceName('g')
  const txt = (id: string, ...data: string[]) => ({ name: `${id}.${svc}`, type: 'TXT' as const, data: data.map((d) => Buffer.from(d)) })
  const ptr = (id: string, name = svc) => ({ name, type: 'PTR' as const, data: `${id}.${svc}` })

  it('reads peers from PTR answers and TXT answers or additionals', () => {
    const peers = parseResponse(
      {
        answers: [ptr(ID_A), txt(ID_A, `dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/${ID_A}`), ptr(ID_B)],
        additionals: [txt(ID_B, `dnsaddr=/ip4/10.0.0.2/tcp/4001/p2p/${ID_B}`, 'other=x')],
      },
      svc,
    )
    expect(peers).toEqual([
      { id: ID_A, addrs: [`/ip4/10.0.0.1/tcp/4001/p2p/${ID_A}`] },
      { id: ID_B, addrs: [`/ip4/10.0.0.2/tcp/4001/p2p/${ID_B}`] },
    ])
  })

  it('ignores other services, addrs naming another peer, and garbage', () => {
    const peers = parseResponse(
      {
        answers: [
          ptr(ID_A, mdnsServiceName('other')),
          ptr(ID_B),
          txt(ID_B, `dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/${ID_A}`, 'dnsaddr=not-a-multiaddr', `dnsaddr=/ip4/10.0.0.2/tcp/1/p2p/${ID_B}`),
        ],
      },
      svc,
    )
    expect(peers).toEqual([{ id: ID_B, addrs: [`/ip4/10.0.0.2/tcp/1/p2p/${ID_B}`] }])
    expect(parseResponse({}, svc)).toEqual([])
  })
})

describe('a member\'s own record carried in its announcement', () => {
  const svc = mdnsServiceName('g')
  const addr = `/ip4/10.0.0.1/tcp/4001/p2p/${ID_A}`
  // Big enough (a non-ASCII name, tags) to take several TXT strings.
  const rec: MemberRecord = {
    id: ID_A, incarnation: 1795355547, status: 'alive', sig: 'c2lnbmF0dXJl'.repeat(7),
    meta: { name: 'Raum 3 – Platz ü7', addrs: [addr], tags: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`tag${i}`, 'wert-ä'.repeat(4)])) },
  }
  const key = Buffer.from('0123456789abcdef0123456789abcdef')
  const response = (strings: Buffer[] | undefined) => ({
    answers: [
      { name: svc, type: 'PTR' as const, data: `${ID_A}.${svc}` },
      { name: `${ID_A}.${svc}`, type: 'TXT' as const, data: [Buffer.from(`dnsaddr=${addr}`)] },
      ...(strings ? [{ name: `${ID_A}.${svc}`, type: 'TXT' as const, data: strings }] : []),
    ],
  })

  it('round-trips over several TXT strings of at most 255 bytes, without evidence', () => {
    const strings = encodeRecordTxt({ ...rec, evidence: { rule: 'refuted', observer: ID_A, atMs: 5 } })!
    expect(strings.length).toBeGreaterThan(2)
    expect(Math.max(...strings.map((x) => x.length))).toBeLessThanOrEqual(255)
    const [peer] = parseResponse(response(strings), svc)
    expect(peer).toEqual({ id: ID_A, addrs: [addr], record: rec })
  })

  it('with a group key, keeps only records whose MAC proves the key; without one, drops records that carry a MAC', () => {
    const withMac = encodeRecordTxt(rec, key)!
    expect(parseResponse(response(withMac), svc, key)[0].record).toEqual(rec)
    expect(parseResponse(response(withMac), svc, Buffer.from('another key, same length, differ'))[0].record).toBeUndefined()
    expect(parseResponse(response(encodeRecordTxt(rec)!), svc, key)[0].record).toBeUndefined() // no MAC
    expect(parseResponse(response(withMac), svc)[0].record).toBeUndefined() // another (private) group's
    // a changed byte breaks the MAC
    const tampered = withMac.map((b, i) => (i === 1 ? Buffer.concat([b.subarray(0, 10), Buffer.from('X'), b.subarray(11)]) : b))
    expect(parseResponse(response(tampered), svc, key)[0].record).toBeUndefined()
  })

  it('drops a record naming another peer, not alive, malformed or too large; the peer is still found', () => {
    const cases: Array<Buffer[] | undefined> = [
      encodeRecordTxt({ ...rec, id: ID_B }),
      encodeRecordTxt({ ...rec, status: 'left' }),
      [Buffer.from('rr={"id":')],
      [Buffer.from(`rr=${JSON.stringify({ ...rec, incarnation: -1 })}`)],
      Array.from({ length: 12 }, () => Buffer.from('rr=' + 'x'.repeat(240))), // over the byte bound
    ]
    for (const strings of cases) {
      const [peer] = parseResponse(response(strings), svc)
      expect(peer).toEqual({ id: ID_A, addrs: [addr] })
    }
    expect(decodeRecordTxt([], ID_A)).toBeUndefined()
  })

  it('is not carried when larger than MAX_ANNOUNCED_RECORD_BYTES (sync carries it)', () => {
    const big = { ...rec, meta: { ...rec.meta!, tags: { t: 'x'.repeat(MAX_ANNOUNCED_RECORD_BYTES) } } }
    expect(encodeRecordTxt(big)).toBeUndefined()
  })
})

describe('MdnsDiscovery.nextQueryDelayMs', () => {
  const at = (connected: number, random: number) =>
    new MdnsDiscovery({ group: 'g', peerId: ID_A, getAddrs: () => [], intervalMs: 60_000, connectedPeers: () => connected, onPeer: () => {} }).nextQueryDelayMs(random)

  it('asks every intervalMs (±25 %) in a group of up to 10', () => {
    expect(at(0, 0.5)).toBe(60_000)
    expect(at(9, 0)).toBe(45_000)
    expect(at(9, 1)).toBe(75_000)
  })

  it('slows down with group size, so the whole group asks about 10 times per interval', () => {
    expect(at(39, 0.5)).toBe(240_000)
    expect(at(99, 0.5)).toBe(600_000)
  })
})

describe('answerByMulticast (how a start query from port 5353 is answered)', () => {
  it('by multicast while we are new or alone, so a lab starting at once hears every answer', () => {
    expect(answerByMulticast(0, 30_000, 5)).toBe(true)
    expect(answerByMulticast(29_999, 30_000, 39)).toBe(true)
    expect(answerByMulticast(3_600_000, 30_000, 0)).toBe(true)
  })

  it('by unicast to the asker once settled in a group, which already knows us', () => {
    expect(answerByMulticast(30_000, 30_000, 1)).toBe(false)
    expect(answerByMulticast(3_600_000, 30_000, 39)).toBe(false)
  })
})

describe('startQueryAnswer', () => {
  it('answers the segment now when our last multicast response is at least a gap old', () => {
    expect(startQueryAnswer(0, 30_000, 0, Infinity, 1_000)).toBe('multicast')
    expect(startQueryAnswer(5_000, 30_000, 9, 1_000, 1_000)).toBe('multicast')
  })

  it('answers the asker at once, and the segment after the gap, when we answered someone less than a gap ago', () => {
    expect(startQueryAnswer(2_000, 30_000, 9, 999, 1_000)).toBe('unicast-and-multicast-later')
    expect(startQueryAnswer(3_600_000, 30_000, 0, 0, 1_000)).toBe('unicast-and-multicast-later')
  })

  it('answers the asker alone once we are settled, however recent our last multicast response', () => {
    expect(startQueryAnswer(30_000, 30_000, 1, 0, 1_000)).toBe('unicast')
    expect(startQueryAnswer(3_600_000, 30_000, 39, Infinity, 1_000)).toBe('unicast')
  })
})

describe('inSubnet', () => {
  it.each([
    ['10.1.2.3', '10.1.2.200', '255.255.255.0', true],
    ['10.1.3.3', '10.1.2.200', '255.255.255.0', false],
    ['192.168.7.9', '192.168.0.1', '255.255.0.0', true],
    ['127.0.0.1', '127.0.0.1', '255.0.0.0', true],
    ['fe80::1', '10.0.0.1', '255.0.0.0', false],
  ])('%s in %s/%s → %s', (ip, iface, mask, expected) => {
    expect(inSubnet(ip, iface, mask)).toBe(expected)
  })
})

describe('resolveInterface', () => {
  it('resolves lo to 127.0.0.1', () => {
    expect(resolveInterface('lo')).toMatchObject({ name: 'lo', address: '127.0.0.1', internal: true })
  })

  it('names the available interfaces when the one asked for does not exist', () => {
    expect(() => resolveInterface('nosuch0')).toThrow(MdnsInterfaceError)
    expect(() => resolveInterface('nosuch0')).toThrow(/unknown network interface "nosuch0"; available: .*lo \(127\.0\.0\.1\)/)
  })
})

describe('MdnsDiscovery.announcedAddrs', () => {
  const nonLoopback = Object.entries(networkInterfaces()).find(([, a]) => a?.some((x) => x.family === 'IPv4' && !x.internal))
  const addrs = (ips: string[]) => ips.map((ip) => `/ip4/${ip}/tcp/4001/p2p/${ID_A}`)

  it('announces only the chosen interface, and loopback only when that interface is lo', () => {
    const ips = ['127.0.0.1', '10.99.0.7']
    const lo = new MdnsDiscovery({ group: 'g', peerId: ID_A, getAddrs: () => addrs(ips), interface: 'lo', onPeer: () => {} })
    expect(lo.announcedAddrs()).toEqual(addrs(['127.0.0.1']))
    const any = new MdnsDiscovery({ group: 'g', peerId: ID_A, getAddrs: () => addrs(ips), onPeer: () => {} })
    expect(any.announcedAddrs()).toEqual(addrs(['10.99.0.7']))
  })

  it.skipIf(nonLoopback === undefined)('on a real NIC announces that NIC’s address only', () => {
    const [name, list] = nonLoopback!
    const ip = list!.find((x) => x.family === 'IPv4')!.address
    const d = new MdnsDiscovery({ group: 'g', peerId: ID_A, getAddrs: () => addrs(['127.0.0.1', ip, '10.254.254.254']), interface: name, onPeer: () => {} })
    expect(d.announcedAddrs()).toEqual(addrs([ip]))
  })
})

// ---------------------------------------------------------------------------------------------
// Real mDNS between processes in network namespaces.
//
//   segment A (br0): n1 eth0 10.77.1.1, n2 10.77.1.2, n3 10.77.1.3   group alpha
//                    n5 10.77.1.5                                     group beta
//   segment B (br1): n1 eth1 10.77.2.1, n4 10.77.2.4                  group alpha
//
// n1 is confined to eth0 while its multicast route points at eth1, so a leak would reach n4.

const PREFIX = `rc-t-${process.pid}-`
/** The probes' multicast answer window (MDNS_MULTICAST_ANSWER_WINDOW_MS, 30 s by default). */
const WINDOW_MS = 3_000
const SCRIPT = fileURLToPath(new URL('../../core/libp2p/mdns-probe-main.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'not root (ip netns needs CAP_SYS_ADMIN)'
  const probe = `${PREFIX}probe`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' })
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' })
    return undefined
  } catch (err) {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' })
    } catch {
      // was never created
    }
    return `ip netns unavailable: ${(err as Error).message.split('\n')[0]}`
  }
}

const skipReason = netnsUnavailableReason()
if (skipReason !== undefined) console.warn(`skipping mDNS namespace test: ${skipReason}`)

interface ProbeEvent {
  event: string
  peerId?: string
  peer?: string
  addrs?: string[]
  announced?: string[]
  [k: string]: unknown
}

class ProbeProc {
  readonly events: ProbeEvent[] = []
  stderr = ''
  exited = false
  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as ProbeEvent)
      } catch {
        this.stderr += `[stdout] ${line}\n`
      }
    })
    proc.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString()
    })
    proc.on('exit', () => {
      this.exited = true
    })
  }
  get ready(): ProbeEvent | undefined {
    return this.events.find((e) => e.event === 'ready')
  }
  get peerId(): string {
    return this.ready!.peerId!
  }
  peers(event: 'discovered' | 'connected'): Set<string> {
    return new Set(this.events.filter((e) => e.event === event).map((e) => e.peer!))
  }
}

describe.skipIf(skipReason !== undefined)('mDNS in network namespaces', () => {
  const created: string[] = []
  const procs: ProbeProc[] = []
  const ns = (n: string): string => `${PREFIX}${n}`
  const ip = (...args: string[]): void => {
    execFileSync('ip', args, { stdio: 'pipe' })
  }

  beforeAll(() => {
    const br = ns('br')
    for (const n of ['br', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6']) {
      ip('netns', 'add', ns(n))
      created.push(ns(n))
      ip('-n', ns(n), 'link', 'set', 'lo', 'up')
    }
    for (const b of ['br0', 'br1']) {
      ip('-n', br, 'link', 'add', b, 'type', 'bridge')
      ip('-n', br, 'link', 'set', b, 'up')
    }
    const attach = (node: string, nodeIf: string, bridge: string, cidr: string): void => {
      const hostIf = `v${node}${nodeIf}`
      ip('-n', br, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nodeIf, 'netns', ns(node))
      ip('-n', br, 'link', 'set', hostIf, 'master', bridge, 'up')
      ip('-n', ns(node), 'addr', 'add', cidr, 'dev', nodeIf)
      ip('-n', ns(node), 'link', 'set', nodeIf, 'up')
    }
    attach('n1', 'eth0', 'br0', '10.77.1.1/24')
    attach('n1', 'eth1', 'br1', '10.77.2.1/24')
    attach('n2', 'eth0', 'br0', '10.77.1.2/24')
    attach('n3', 'eth0', 'br0', '10.77.1.3/24')
    attach('n4', 'eth0', 'br1', '10.77.2.4/24')
    attach('n5', 'eth0', 'br0', '10.77.1.5/24')
    attach('n6', 'eth0', 'br0', '10.77.1.6/24')
    // Without a multicast route, sends fail with ENETUNREACH (STACK-NOTES). n1's points the wrong way on purpose.
    ip('-n', ns('n1'), 'route', 'add', '224.0.0.0/4', 'dev', 'eth1')
    for (const n of ['n2', 'n3', 'n4', 'n5', 'n6']) ip('-n', ns(n), 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
  })

  afterAll(async () => {
    for (const p of procs) p.proc.stdin?.end()
    const deadline = Date.now() + 5_000
    while (procs.some((p) => !p.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    for (const p of procs) if (!p.exited && p.proc.pid !== undefined) process.kill(p.proc.pid, 'SIGKILL')
    for (const n of created.reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'pipe' })
      } catch (err) {
        console.warn(`could not delete namespace ${n}: ${(err as Error).message}`)
      }
    }
  })

  function start(node: string, group: string, iface = 'eth0', extra: string[] = []): ProbeProc {
    const args = ['--group', group, '--interface', iface, '--interval-ms', '1000', '--multicast-answer-window-ms', String(WINDOW_MS), ...extra]
    const proc = spawn('ip', ['netns', 'exec', ns(node), process.execPath, '--import', 'tsx', SCRIPT, ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const p = new ProbeProc(node, proc)
    procs.push(p)
    return p
  }

  /** The probe's mDNS counters, asked for on its stdin. */
  async function statsOf(p: ProbeProc): Promise<Record<string, number>> {
    const before = p.events.filter((e) => e.event === 'stats').length
    p.proc.stdin!.write('stats\n')
    await until(`${p.name} stats`, () => p.events.filter((e) => e.event === 'stats').length > before, 10_000)
    return (p.events.filter((e) => e.event === 'stats').at(-1)!.stats as { mdns: Record<string, number> }).mdns
  }

  async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
    const t0 = Date.now()
    while (!cond()) {
      if (Date.now() - t0 > timeoutMs) {
        const dump = procs.map((p) => `--- ${p.name}\n${p.events.map((e) => JSON.stringify(e)).join('\n')}\n${p.stderr}`).join('\n')
        throw new Error(`timed out waiting for ${what}\n${dump}`)
      }
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  it('finds the group on the chosen interface only, and never another group', async () => {
    const [n1, n2, n3, n4, n5] = [start('n1', 'alpha'), start('n2', 'alpha'), start('n3', 'alpha'), start('n4', 'alpha'), start('n5', 'beta')]
    const all = [n1, n2, n3, n4, n5]
    await until('all ready', () => all.every((p) => p.ready !== undefined || p.exited), 40_000)
    expect(all.filter((p) => p.exited).map((p) => p.stderr)).toEqual([])

    // n1 listens on 0.0.0.0 (both NICs) but announces eth0's address only
    expect(n1.ready!.addrs!.some((a) => a.startsWith('/ip4/10.77.2.1/'))).toBe(true)
    expect(n1.ready!.announced!.every((a) => a.startsWith('/ip4/10.77.1.1/'))).toBe(true)
    expect(n1.ready!.announced).toHaveLength(1)

    const alphaA = [n1, n2, n3]
    await until('segment A alpha nodes discover and connect to each other', () =>
      alphaA.every((p) => alphaA.every((q) => q === p || (p.peers('discovered').has(q.peerId) && p.peers('connected').has(q.peerId)))),
    30_000)
    for (const p of alphaA) {
      const found = p.events.filter((e) => e.event === 'discovered').map((e) => e.atMs as number)
      const connectedAt = p.events.filter((e) => e.event === 'connected').map((e) => e.atMs as number)
      console.log(`${p.name}: segment-A alpha peers discovered ${Math.max(...found) - (p.ready!.atMs as number)} ms, connected ${Math.max(...connectedAt) - (p.ready!.atMs as number)} ms after its own start`)
    }
    // several query intervals more, so a leak or a cross-group answer would have shown up
    await new Promise((r) => setTimeout(r, 3_000))
    const outsiders = new Set([n4.peerId, n5.peerId])
    for (const p of alphaA) expect([...p.peers('discovered')].filter((id) => outsiders.has(id))).toEqual([])
    expect([...n4.peers('discovered')]).toEqual([])
    expect([...n5.peers('discovered')]).toEqual([])
    expect([...n4.peers('connected')]).toEqual([])
    expect([...n5.peers('connected')]).toEqual([])
    for (const p of all) expect(p.events.filter((e) => e.event === 'error')).toEqual([])

    // Periodic queries (every second here) are answered by unicast to the asker alone: after the
    // start (whose query is answered to the whole segment), a node hears no more multicast
    // answers however often anyone asks. Answering each query by multicast made N² packets per
    // interval, read by every member.
    const first = [await statsOf(n2), await statsOf(n3)]
    await new Promise((r) => setTimeout(r, 3_500))
    const second = [await statsOf(n2), await statsOf(n3)]
    for (const [i, p] of [n2, n3].entries()) {
      const d = (k: string) => second[i][k] - first[i][k]
      console.log(`${p.name} mdns over 3.5 s: ${JSON.stringify(Object.fromEntries(Object.keys(second[i]).map((k) => [k, d(k)])))}`)
      expect(d('queriesSent')).toBeGreaterThanOrEqual(2)
      // the other two alpha members answer each query (n5 is in another group: silent)
      expect(d('unicastAnswersReceived')).toBeGreaterThanOrEqual(d('queriesSent'))
      expect(d('unicastAnswersSent')).toBeGreaterThanOrEqual(2)
      expect(d('responsesReceived')).toBe(0)
      expect(d('multicastResponsesSent')).toBe(0)
    }

    // A newcomer once the group has settled (more than WINDOW_MS after n2 and n3 started): its start
    // query from port 5353 is answered to it alone, so the members hear its start announcement and
    // nothing else. (Answered by multicast, every member would read every other's answer too.)
    const n6 = start('n6', 'alpha')
    const before = [await statsOf(n2), await statsOf(n3)]
    await until('the newcomer finds n2 and n3', () => n6.peers('discovered').has(n2.peerId) && n6.peers('discovered').has(n3.peerId), 30_000)
    await new Promise((r) => setTimeout(r, 1_000))
    const after = [await statsOf(n2), await statsOf(n3)]
    for (const [i, p] of [n2, n3].entries()) {
      const d = (k: string) => after[i][k] - before[i][k]
      console.log(`${p.name} mdns while n6 started: ${JSON.stringify(Object.fromEntries(Object.keys(after[i]).map((k) => [k, d(k)])))}`)
      expect(d('multicastResponsesSent')).toBe(0)
      expect(d('unicastAnswersSent')).toBeGreaterThanOrEqual(1)
      expect(d('responsesReceived')).toBeLessThanOrEqual(1) // n6's start announcement
    }
    // n2's and n3's answers to the start query arrived on n6's port 5353 (no other member started meanwhile)
    expect((await statsOf(n6)).responsesReceived).toBeGreaterThanOrEqual(2)
  }, 120_000)

  it('carries each node\'s signed alive record in its announcement, sent (with its start query) only when it joins', async () => {
    // A node announces at its join: until then it neither announces nor asks, so nobody finds it
    // (its periodic query is a minute away).
    const quiet = ['--record', '--interval-ms', '60000']
    const a = start('n5', 'gamma', 'eth0', quiet)
    const b = start('n6', 'gamma', 'eth0', quiet)
    await until('both ready', () => [a, b].every((p) => p.ready !== undefined || p.exited), 40_000)
    await new Promise((r) => setTimeout(r, 1_500))
    expect(a.peers('discovered').size + b.peers('discovered').size).toBe(0)
    const announced = (p: ProbeProc, from: ProbeProc) => p.events.find((e) => e.event === 'announced' && e.peer === from.peerId)
    a.proc.stdin!.write('announce\n')
    // b hears a's announcement with a's record, signature intact after the TXT round trip ...
    await until('b hears a\'s record', () => announced(b, a) !== undefined, 15_000)
    expect(announced(b, a)).toMatchObject({ incarnation: 7, name: 'probe', verified: true })
    // ... and a's start query went out with it: b answers, carrying b's record.
    await until('a hears b\'s record in the answer to its start query', () => announced(a, b) !== undefined, 15_000)
    expect(announced(a, b)).toMatchObject({ incarnation: 7, verified: true })
  }, 90_000)

  it('answers a start query to the asker at once while its multicast answer must wait for the response gap', async () => {
    // A lab starting at once: every member has just sent a multicast response, so its answer to the
    // next starter's query waits for the response gap (a minute here: only the unicast answer can
    // arrive within the test).
    const slow = ['--record', '--interval-ms', '60000', '--min-response-gap-ms', '60000']
    const announced = (p: ProbeProc, from: ProbeProc) => p.events.find((e) => e.event === 'announced' && e.peer === from.peerId)
    const a = start('n2', 'delta', 'eth0', slow)
    await until('a ready', () => a.ready !== undefined || a.exited, 40_000)
    a.proc.stdin!.write('announce\n')
    await new Promise((r) => setTimeout(r, 300))
    expect((await statsOf(a)).multicastResponsesSent).toBe(1)
    // b starts after a's announcement: it has not heard of a, and a will not ask for a minute.
    const b = start('n3', 'delta', 'eth0', slow)
    await until('b ready', () => b.ready !== undefined || b.exited, 40_000)
    await new Promise((r) => setTimeout(r, 500))
    expect(announced(b, a)).toBeUndefined()
    b.proc.stdin!.write('announce\n')
    await until('b hears a\'s record in the answer to its start query', () => announced(b, a) !== undefined, 10_000)
    expect(announced(b, a)).toMatchObject({ incarnation: 7, verified: true })
    expect(announced(a, b)).toMatchObject({ incarnation: 7, verified: true })
    const sa = await statsOf(a)
    expect(sa.unicastAnswersSent).toBe(1)
    expect(sa.multicastResponsesSent).toBe(1) // its own announcement; the segment's answer is still waiting
  }, 90_000)
})
