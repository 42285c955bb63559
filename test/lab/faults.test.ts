// Scenario tests in the fault lab: five real `rollcall agent` processes (profile lan), each in its
// own network namespace on one bridge, finding each other by real mDNS on that segment, under real
// faults. Correctness, not speed: the bounds are generous (two cores, other test files running).
// Skips, saying why, where namespaces are unavailable (not root, no `ip netns`, no nftables).
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Lab, nsUnavailableReason, sleep, type LabNode } from './lab.js'

const N = 5
const why = nsUnavailableReason()
if (why) console.warn(`[test/lab] fault lab skipped: ${why}`)

describe.skipIf(why !== undefined)(`fault lab: ${N} rollcall agents in network namespaces${why ? ` (skipped: ${why})` : ''}`, () => {
  let lab: Lab
  let failed = false
  const ids = new Map<string, string>()

  const diag = (node?: LabNode) => `\nviews:\n${lab.describeViews()}${node ? `\n\n${node.name} output:\n${lab.output(node, 30)}` : ''}\n(lab files: ${lab.root})`
  const failuresOf = (subject: LabNode, t0: number, observers: LabNode[]) =>
    lab.changesSince(t0, (c) => c.subject === subject.name && c.to === 'failed' && observers.some((o) => o.name === c.observer))

  async function restoreAll(): Promise<void> {
    for (const n of lab.nodes) {
      if (n.stopped) lab.thaw(n)
      if (!n.running) await lab.restart(n)
    }
    await lab.waitFormed(60_000)
  }

  beforeAll(async () => {
    lab = await Lab.start({ system: 'rollcall', mode: 'ns', n: N, profile: 'lan', formTimeoutMs: 90_000 })
  }, 120_000)

  afterAll(async () => {
    await lab?.close(failed)
  }, 30_000)

  const step = (name: string, fn: () => Promise<void>, timeoutMs: number) =>
    it(name, async () => {
      try {
        await fn()
      } catch (err) {
        failed = true
        throw err
      }
    }, timeoutMs)

  step('the group forms by mDNS alone: every agent lists all five alive', async () => {
    expect(lab.formed(), diag()).toBe(true)
    for (const n of lab.nodes) {
      const members = await lab.members(n)
      expect(members.map((m) => `${m.name}=${m.status}`).sort(), `${n.name}'s members --json`).toEqual(lab.nodes.map((m) => `${m.name}=alive`))
      for (const m of members) if ('id' in m) ids.set(m.name, (m as { id: string }).id)
    }
  }, 30_000)

  step('a crash (kill -9) becomes failed everywhere, and a restart with the same data dir is alive again', async () => {
    const victim = lab.node(4)
    const t0 = await lab.kill(victim)
    await lab.waitUntil(`${victim.name} failed everywhere`, () => lab.allSee(victim, ['failed']), 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag()}`)
    })
    expect(lab.changesSince(t0, (c) => c.subject === victim.name && c.to === 'left')).toEqual([])
    await lab.restart(victim)
    await lab.waitUntil(`${victim.name} alive again everywhere`, () => lab.allSee(victim, ['alive']) && lab.formed(), 60_000)
    const members = await lab.members(lab.node(0))
    expect(members.find((m) => m.name === victim.name)?.status).toBe('alive')
  }, 120_000)

  step('a restarted member is alive everywhere from its own signed mDNS announcement, before any connection to it', async () => {
    const victim = lab.node(4)
    const observers = lab.observers([victim])
    await lab.kill(victim)
    await lab.waitUntil(`${victim.name} failed everywhere`, () => lab.allSee(victim, ['failed'], observers), 30_000)
    // No TCP between the victim and anyone: no join sync, no probe, no gossip can carry its return.
    await lab.cutTcp(victim)
    const t1 = await lab.restart(victim)
    try {
      await lab.waitUntil(`${victim.name} seen alive by all with no connection`, () => lab.firstTimes(victim, ['alive'], t1, observers).size === observers.length, 30_000).catch((e) => {
        throw new Error(`${(e as Error).message}${diag(victim)}`)
      })
    } finally {
      await lab.heal()
    }
    await lab.waitUntil(`${victim.name} alive again everywhere, connected`, () => lab.allSee(victim, ['alive']) && lab.formed(), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(victim)}`)
    })
  }, 150_000)

  step('a freeze (SIGSTOP) becomes suspect, then failed, then alive again after SIGCONT with no manual step', async () => {
    const victim = lab.node(3)
    const t0 = lab.freeze(victim)
    const observers = lab.observers([victim])
    await lab.waitUntil(`${victim.name} failed everywhere`, () => lab.allSee(victim, ['failed'], observers), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag()}`)
    })
    const suspected = lab.firstTimes(victim, ['suspect'], t0, observers)
    const failedAt = lab.firstTimes(victim, ['failed'], t0, observers)
    // Someone suspected first; nobody declared it failed before the first suspicion.
    expect(suspected.size, `suspicions of ${victim.name}${diag()}`).toBeGreaterThan(0)
    expect(Math.min(...failedAt.values())).toBeGreaterThanOrEqual(Math.min(...suspected.values()))
    lab.thaw(victim)
    await lab.waitUntil(`${victim.name} alive again everywhere after SIGCONT`, () => lab.allSee(victim, ['alive']) && lab.formed(), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(victim)}`)
    })
  }, 150_000)

  step('a graceful leave (SIGTERM) becomes left everywhere and never failed; the agent exits 0', async () => {
    const victim = lab.node(2)
    const observers = lab.observers([victim])
    const t0 = await lab.leave(victim)
    expect(victim.exitCode, lab.output(victim)).toBe(0)
    await lab.waitUntil(`${victim.name} left everywhere`, () => lab.allSee(victim, ['left'], observers), 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(victim)}`)
    })
    await sleep(3_000) // a late failure verdict would show up here
    expect(failuresOf(victim, t0, observers)).toEqual([])
    expect(lab.allSee(victim, ['left'], observers), diag()).toBe(true)
    await lab.restart(victim)
    await lab.waitUntil(`${victim.name} alive again after rejoining`, () => lab.allSee(victim, ['alive']) && lab.formed(), 60_000)
  }, 120_000)

  step('after a symmetric partition heals, all views agree (members --json on every agent)', async () => {
    const left = [lab.node(0), lab.node(1)]
    const right = [lab.node(2), lab.node(3), lab.node(4)]
    await lab.partition(left, right)
    const crossFailed = () => left.every((a) => right.every((b) => a.view.get(b.name) === 'failed' && b.view.get(a.name) === 'failed'))
    await lab.waitUntil('each side sees the other failed', crossFailed, 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag()}`)
    })
    await lab.heal()
    await lab.waitUntil('all views alive after heal', () => lab.formed(), 90_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(lab.node(0))}`)
    })
    // The real views (what `rollcall members --json` prints) agree member by member, incarnations included.
    await lab.waitUntil('members --json identical on every agent', () => true, 0)
    const views = await Promise.all(lab.nodes.map(async (n) => (await lab.members(n)).map((m) => `${m.name}:${m.status}:${m.incarnation}`).sort().join(' ')))
    expect(new Set(views).size, views.join('\n')).toBe(1)
  }, 180_000)

  step('a restart with a new IP address is the same member (same id), alive, at its new address', async () => {
    const victim = lab.node(1)
    const oldIp = victim.ip
    await lab.kill(victim)
    await lab.waitUntil(`${victim.name} failed`, () => lab.allSee(victim, ['failed']), 30_000)
    await lab.restart(victim, { newIp: true })
    expect(victim.ip).not.toBe(oldIp)
    await lab.waitUntil(`${victim.name} alive at ${victim.ip}`, () => lab.allSee(victim, ['alive']) && lab.formed(), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(victim)}`)
    })
    for (const o of lab.observers([victim])) {
      const m = (await lab.members(o)).filter((x) => x.name === victim.name)
      expect(m.length, `${o.name} lists ${victim.name} once`).toBe(1)
      if (ids.size) expect((m[0] as { id?: string }).id).toBe(ids.get(victim.name))
      expect(m[0].status).toBe('alive')
      expect(m[0].addrs?.some((a) => a.includes(`/ip4/${victim.ip}/`)), `${o.name} knows ${victim.name}'s new address: ${m[0].addrs}`).toBe(true)
    }
  }, 120_000)

  step('an asymmetric fault (A cannot reach B) does not get B or A declared failed by the nodes that still reach them', async () => {
    const a = lab.node(0)
    const b = lab.node(1)
    const others = lab.nodes.filter((n) => n !== a && n !== b)
    const t0 = await lab.cut(a, b)
    await sleep(20_000) // many probe rounds of A → B, each needing indirect probes through the others
    await lab.heal()
    const wrong = [...failuresOf(b, t0, others), ...failuresOf(a, t0, others)]
    expect(wrong, diag()).toEqual([])
    await lab.waitFormed(60_000)
  }, 90_000)

  step('link down, then up: failed at the others while the cable is out, alive everywhere again once it is back', async () => {
    const victim = lab.node(2)
    await lab.linkDown(victim)
    await lab.waitUntil(`${victim.name} failed at the others`, () => lab.allSee(victim, ['failed']), 45_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag()}`)
    })
    await lab.linkUp(victim)
    await lab.waitUntil(`${victim.name} alive everywhere again`, () => lab.allSee(victim, ['alive']) && lab.formed(), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(victim)}`)
    })
  }, 120_000)

  step('a flapping link (6 × 1 s down, 1 s up) ends with every agent alive and every view the same', async () => {
    const victim = lab.node(3)
    await lab.flap(victim, 6, 1_000, 1_000)
    await lab.waitUntil('all views alive after the flapping', () => lab.formed(), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}${diag(victim)}`)
    })
    const views = await Promise.all(lab.nodes.map(async (n) => (await lab.members(n)).map((m) => `${m.name}:${m.status}`).sort().join(' ')))
    expect(new Set(views).size, views.join('\n')).toBe(1)
  }, 120_000)

  step('an agent that stops behind the lab\'s back is named as possibly stuck when a wait times out', async () => {
    // SIGSTOP without lab.freeze: the lab still counts it running, as it would a hung agent.
    const victim = lab.node(1)
    process.kill(victim.pid!, 'SIGSTOP')
    try {
      await lab.waitUntil(`${victim.name} suspected or failed by the others`, () => lab.allSee(victim, ['suspect', 'failed'], lab.observers([victim])), 30_000)
      await sleep(2_500)
      // The default threshold (20 s) is longer than this test waits.
      lab.silentAgentMs = 2_000
      const err = await lab.waitUntil('something that never holds', () => false, 100).catch((e: Error) => e)
      lab.silentAgentMs = 20_000
      expect(err).toBeInstanceOf(Error)
      const report = (err as Error).message
      expect(report).toContain('silent agents (possibly stuck):')
      expect(report, report).toMatch(new RegExp(`^  ${victim.name} \\(pid ${victim.pid}\\) printed nothing for \\d+ s: state T \\(stopped\\), 0\\.00 s of CPU in 1 s, waiting in do_signal_stop`, 'm'))
      // Its kernel stack went to its log, for the next stuck agent (as root: the lab always runs as root).
      expect(fs.readFileSync(victim.logFile, 'utf8')).toMatch(/kernel stack of the main thread:\n.*do_signal_stop/)
      // Only the accused, silent agent: the others are not named.
      for (const o of lab.observers([victim])) expect(report).not.toContain(`  ${o.name} (pid`)
    } finally {
      process.kill(victim.pid!, 'SIGCONT')
    }
    await restoreAll()
  }, 120_000)
})
