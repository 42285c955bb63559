// A group of real Rollcall nodes on loopback for integration tests: libp2p, TCP, gossipsub, the
// real data dir. No mDNS (never in the machine's own network namespace): bootstrap addresses.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import '../../core/libp2p/polyfill.js'
import { createNode, type RollcallNode } from '../../core/node/node.js'
import type { ProtocolConfig } from '../../core/protocol/config.js'
import { controlRequest } from '../../core/node/control.js'
import type { Member } from '../../core/node/node.js'

export const tmpRoot = () => fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-it-'))

export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 50): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await pred()) return Date.now() - start
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, stepMs))
  }
}

export interface InProcessNode {
  node: RollcallNode
  dataDir: string
  name: string
}

export async function startNode(root: string, name: string, bootstrap: string[], config: Partial<ProtocolConfig> = {}, group = 'it'): Promise<InProcessNode> {
  const dataDir = path.join(root, name)
  const node = createNode({ dataDir, name, group, mdns: false, profile: 'local', config, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap })
  await node.start()
  return { node, dataDir, name }
}

export function statusOf(n: RollcallNode, id: string): string | undefined {
  return n.members().find((m) => m.id === id)?.status
}

/** Start `count` nodes; the first is the others' bootstrap. Returns once every node sees all alive. */
export async function startGroup(root: string, count: number, config: Partial<ProtocolConfig> = {}): Promise<InProcessNode[]> {
  const first = await startNode(root, 'n0', [], config)
  await first.node.join()
  const seed = first.node.self().addrs
  const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => startNode(root, `n${i + 1}`, seed, config)))
  await Promise.all(rest.map((r) => r.node.join()))
  const all = [first, ...rest]
  await waitFor(`${count} nodes see each other alive`, () => all.every((a) => a.node.reachable().length === count))
  return all
}

export async function stopAll(nodes: InProcessNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.node.stop().catch(() => {})))
}

// --- agents as separate processes (for kill -9 and SIGSTOP) -----------------------------------

export interface AgentProcess {
  child: ChildProcess
  dataDir: string
  output: () => string
  members: () => Promise<Member[]>
}

const BIN = path.resolve(import.meta.dirname, '../../bin/rollcall.cjs')

export async function spawnAgent(dataDir: string, name: string, bootstrap: string[], extra: string[] = []): Promise<AgentProcess> {
  const args = [BIN, 'agent', '--data-dir', dataDir, '--name', name, '--group', 'it', '--no-mdns', '--profile', 'local', '--listen', '/ip4/127.0.0.1/tcp/0', ...bootstrap.flatMap((b) => ['--bootstrap', b]), ...extra]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const agent: AgentProcess = {
    child, dataDir, output: () => out,
    members: async () => (await controlRequest(dataDir, 'members', undefined, { timeoutMs: 3000 })) as Member[],
  }
  await waitFor(`agent ${name} joined`, () => out.includes('→ joined'), 30_000)
  return agent
}
