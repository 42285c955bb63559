// Whole agent processes on loopback: kill -9, and a frozen process (SIGSTOP) that is cut off and
// comes back (SIGCONT) with no manual step.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { controlRequest } from '../../core/node/control.js'
import { spawnAgent, tmpRoot, waitFor, type AgentProcess } from './cluster.js'

const root = tmpRoot()
const agents: AgentProcess[] = []

afterAll(() => {
  for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) {
    try {
      a.child.kill('SIGCONT')
      a.child.kill('SIGKILL')
    } catch { /* already gone */ }
  }
  fs.rmSync(root, { recursive: true, force: true })
})

async function group(dir: string, n: number): Promise<AgentProcess[]> {
  const first = await spawnAgent(path.join(dir, 'a0'), 'a0', [])
  agents.push(first)
  const self = (await first.members()).find((m) => m.isSelf)!
  const rest = await Promise.all(Array.from({ length: n - 1 }, (_, i) => spawnAgent(path.join(dir, `a${i + 1}`), `a${i + 1}`, self.addrs)))
  agents.push(...rest)
  const all = [first, ...rest]
  await waitFor('all agents see each other', async () => (await Promise.all(all.map((a) => a.members()))).every((ms) => ms.filter((m) => m.status === 'alive').length === n), 30_000, 200)
  return all
}

const statusIn = async (a: AgentProcess, id: string) => (await a.members()).find((m) => m.id === id)?.status

describe('agent processes', () => {
  it('kill -9: the others declare it failed', async () => {
    const all = await group(path.join(root, 'kill'), 4)
    const victim = all[3]
    const id = (await victim.members()).find((m) => m.isSelf)!.id
    // `rollcall status` reports what the agent process itself costs.
    const status = (await controlRequest(victim.dataDir, 'status', undefined, { timeoutMs: 3000 })) as { process: Record<string, number> }
    expect(status.process.rssMiB).toBeGreaterThan(10)
    expect(status.process.heapUsedMiB).toBeGreaterThan(1)
    expect(status.process.heapUsedMiB).toBeLessThanOrEqual(status.process.rssMiB)
    expect(status.process.cpuSec).toBeGreaterThan(0)
    victim.child.kill('SIGKILL')
    await waitFor('failed at all survivors', async () => (await Promise.all(all.slice(0, 3).map((a) => statusIn(a, id)))).every((s) => s === 'failed'), 30_000, 100)
    for (const a of all.slice(0, 3)) a.child.kill('SIGTERM')
  })

  it('SIGSTOP then SIGCONT: suspected, failed, then alive again by itself', async () => {
    const all = await group(path.join(root, 'freeze'), 4)
    const frozen = all[1]
    const id = (await frozen.members()).find((m) => m.isSelf)!.id
    const before = (await all[0].members()).find((m) => m.id === id)!.incarnation
    frozen.child.kill('SIGSTOP')
    const others = [all[0], all[2], all[3]]
    await waitFor('failed at the others', async () => (await Promise.all(others.map((a) => statusIn(a, id)))).every((s) => s === 'failed'), 60_000, 200)
    frozen.child.kill('SIGCONT')
    await waitFor('alive again at the others', async () => (await Promise.all(others.map((a) => statusIn(a, id)))).every((s) => s === 'alive'), 60_000, 200)
    const after = (await all[0].members()).find((m) => m.id === id)!.incarnation
    expect(after).toBeGreaterThan(before) // it refuted its failure
    // The frozen node itself must not have declared the others failed when it woke.
    const own = await frozen.members()
    expect(own.filter((m) => m.status === 'failed')).toEqual([])
    for (const a of all) a.child.kill('SIGTERM')
  })
})
