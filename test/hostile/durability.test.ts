// The event log across SIGKILL: an agent process logs membership churn (members joining and
// leaving in a loop) and is killed mid-stream. Every line must parse (at most a torn last one is
// skipped) and sequence numbers must have no gaps; a restart continues the sequence.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readEventLogFiles } from '../../core/node/eventlog.js'
import { spawnAgent, startNode, stopAll, tmpRoot, waitFor, type AgentProcess, type InProcessNode } from '../integration/cluster.js'

const root = tmpRoot()
let churners: InProcessNode[] = []
let agent: AgentProcess | undefined
afterAll(async () => {
  if (agent && agent.child.exitCode === null) agent.child.kill('SIGKILL')
  await stopAll(churners)
  fs.rmSync(root, { recursive: true, force: true })
})

describe('event log durability', () => {
  it('loses no event across SIGKILL during heavy churn', async () => {
    const dir = path.join(root, 'agent')
    agent = await spawnAgent(dir, 'logger', [])
    const self = (await agent.members()).find((m) => m.isSelf)!
    churners = await Promise.all([0, 1, 2, 3].map((i) => startNode(root, `c${i}`, self.addrs)))
    await Promise.all(churners.map((c) => c.node.join()))
    // Churn: each member leaves and rejoins in a loop (bounded: 8 s or 40 cycles each).
    const stopAt = Date.now() + 8000
    let cycles = 0
    const loops = churners.map(async (c) => {
      for (let i = 0; i < 40 && Date.now() < stopAt; i++) {
        await c.node.leave()
        await c.node.join()
        cycles++
      }
    })
    // Kill the agent while the churn is still going.
    await waitFor('enough churn logged', () => readEventLogFiles(dir).entries.length > 60, 30_000, 100)
    agent.child.kill('SIGKILL')
    await Promise.all(loops)
    expect(cycles).toBeGreaterThan(4)

    const { entries, skippedLines } = readEventLogFiles(dir)
    expect(skippedLines).toBeLessThanOrEqual(1)
    expect(entries.length).toBeGreaterThan(60)
    entries.forEach((e, i) => expect(e.seq).toBe(i + 1))
    const lastSeq = entries.at(-1)!.seq

    // A restart on the same data dir continues the sequence after the last complete line.
    agent = await spawnAgent(dir, 'logger', [])
    await waitFor('restart logged', () => readEventLogFiles(dir).entries.length > entries.length, 10_000)
    const after = readEventLogFiles(dir).entries
    after.forEach((e, i) => expect(e.seq).toBe(i + 1))
    expect(after[entries.length].seq).toBe(lastSeq + 1)
    agent.child.kill('SIGTERM')
  })
})
