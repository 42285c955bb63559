// The fault lab: N real agent processes (Rollcall or HashiCorp Serf, behind one interface), each in
// its own network namespace on one bridge that lives in a namespace of its own, or on loopback.
// Shared by the scenario tests (test/lab/*.test.ts) and the benchmark (bench/serf-compare.ts).
//
// Network rule: every packet stays on 127.0.0.0/8 or inside the namespaces created here. mDNS runs
// only inside them. Every namespace, process and nftables rule is removed on close(), on process
// exit and on SIGINT/SIGTERM; namespaces left behind by a dead lab process are swept at start.
//
// Topology (namespace mode):
//   rc-lab-<pid>-<tag>-br   bridge br0, one veth end v<i> per node (link faults act here)
//   rc-lab-<pid>-<tag>-n<i> eth0 = 10.77.0.(10+i)/16, route 224.0.0.0/4 dev eth0, lo up,
//                           nftables table `inet rclab` (loss, cuts, byte counters),
//                           eth0's MAC 02:72:63:00:<i>, a permanent neighbour entry for every other node
//
// Why permanent neighbour entries: the kernel's ARP table is one table for all namespaces, capped by
// net.ipv4.neigh.default.gc_thresh3 (1024 by default). A full mesh of N = 40 needs 40 × 39 = 1,560
// entries; past the cap the kernel drops packets ("neighbour table overflow" in dmesg), and both
// systems saw SYNs and probes vanish (measured: 24 failed SYN retransmits per node in 20 s, a steady
// stream of false suspicions). Permanent entries are exempt from that cap and vanish with the
// namespaces, so nothing on the machine changes. Separate machines each have their own ARP table.
//
// Observation: Rollcall agents' views come from tailing each agent's events.jsonl (timestamps
// written by the agent itself); Serf agents' views from their log lines (EventMemberJoin/Leave/
// Failed, memberlist "Suspect … has failed"), timestamped on arrival. `members()` polls the real
// view (the control socket that `rollcall members --json` uses, `serf members -format json`).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { controlRequest } from '../../core/node/control.js'

const execFileP = promisify(execFile)

export type System = 'rollcall' | 'serf'
export type Mode = 'ns' | 'loopback'
export type Status = 'alive' | 'suspect' | 'failed' | 'left' | 'leaving' | 'removed'

export const NS_PREFIX = 'rc-lab-'
const ROLLCALL_BIN = path.resolve(import.meta.dirname, '../../bin/rollcall.cjs')
const REPO = path.resolve(import.meta.dirname, '../..')

/**
 * The environment the lab's agents run in, both systems alike: the lab's own, without
 * NODE_EXTRA_CA_CERTS. Node 20 reads and parses that file at every start, before any of the agent's
 * code runs; on this build machine it points at the system's 220 KB CA bundle (for npm), which took
 * a bare `node` from 20–31 to 71–97 ms until its first line of code, so ~50 ms of every agent start.
 * An agent on a lab machine (a service, or the app at login) has no such variable, and it makes no
 * TLS connection that could need it. Serf, a Go binary, ignores it.
 */
export function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  delete env.NODE_EXTRA_CA_CERTS
  return env
}

function newestTsMs(dir: string): number {
  let newest = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) newest = Math.max(newest, newestTsMs(p))
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs)
  }
  return newest
}

/**
 * bin/rollcall.cjs falls back to running the TypeScript sources through tsx when dist/ is older
 * than core/: correct, but slower to start and heavier, which would skew every lab figure. Build
 * first instead (about 10 s).
 */
function ensureBuilt(log?: (line: string) => void): void {
  const built = path.join(REPO, 'dist', 'core', 'cli', 'main.js')
  const bundle = path.join(REPO, 'dist', 'core', 'cli', 'main.bundle.cjs')
  const newestMs = newestTsMs(path.join(REPO, 'core'))
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newestMs && fs.existsSync(bundle) && fs.statSync(bundle).mtimeMs >= fs.statSync(built).mtimeMs) return
  ;(log ?? console.log)('lab: dist/ is older than core/, building it first (npm run build)')
  execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO, 'tsconfig.build.json')], { stdio: 'inherit' })
  execFileSync(process.execPath, [path.join(REPO, 'build', 'bundle-agent.mjs')], { stdio: 'inherit' })
}
/**
 * Make sure the agents start with a V8 code cache, as they do on a machine whose agent has run once
 * (bin/code-cache.cjs: an agent writes it 10–20 s after it starts; a rebuild clears it). Without one
 * each agent compiles the bundle at start (~50 ms more here), which is what a bench run right after
 * `npm run build` would otherwise measure. Runs two agents on loopback (no mDNS) until one has
 * written the cache, at most 30 s. Returns whether a cache is there.
 */
export async function warmCodeCache(log?: (line: string) => void): Promise<boolean> {
  ensureBuilt(log)
  const dir = path.join(REPO, 'dist', 'code-cache')
  const have = () => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.startsWith('agent-') && f.endsWith('.v8cache'))
  if (have()) return true
  ;(log ?? console.log)('lab: no agent code cache yet; running two agents on loopback (no mDNS) until one writes it (10–20 s)')
  // Two, so the cache holds what a start in a group runs (a handshake, a join, probes, syncs).
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const dirs = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'rc-lab-warm-')))
  const children = dirs.map((dataDir, i) =>
    spawn(process.execPath, [ROLLCALL_BIN, 'agent', '--data-dir', dataDir, '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${i === 0 ? port : 0}`, ...(i === 1 ? ['--bootstrap', `/ip4/127.0.0.1/tcp/${port}`] : [])], {
      stdio: ['ignore', 'ignore', 'pipe'], env: agentEnv({ ROLLCALL_DEBUG_CODE_CACHE: '1' }),
    }))
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000)
      for (const child of children) {
        child.stderr!.on('data', (d: Buffer) => {
          if (d.toString().includes('code cache written')) {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    })
  } finally {
    for (const child of children) if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL')
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
  }
  return have()
}
const LAB_AGENT = path.resolve(import.meta.dirname, 'agent-main.ts')
const ROLLCALL_PORT = 4001
const SERF_PORT = 7946
const SERF_RPC_PORT = 7373
/** An agent that printed nothing for this long while a wait timed out is reported as possibly stuck. */
const SILENT_AGENT_MS = 20_000
/** At most this many silent agents are examined (gdb takes a second or two each). */
const MAX_DIAGNOSED_AGENTS = 4
/** Lines of agent output kept in memory per node for diagnostics (the full log goes to a file). */
const OUTPUT_TAIL_LINES = 400
/** How often event logs are read and wait conditions re-checked. */
const POLL_MS = 50

export interface LabOptions {
  system: System
  mode: Mode
  n: number
  /** Rollcall profile (default lan). */
  profile?: 'lan' | 'local'
  /** Rollcall protocol config overrides (experiments): runs test/lab/agent-main.ts instead of the CLI. */
  rollcallConfig?: Record<string, number>
  /** Serf binary (default serf on PATH). */
  serfBin?: string
  /** Don't wait for the group to form in start(). */
  noWait?: boolean
  /** Time allowed for the group to form (ms). */
  formTimeoutMs?: number
  /** Progress lines (stderr in the bench). */
  log?: (msg: string) => void
  /** Keep the temp dir (agent logs, data dirs) after close. */
  keep?: boolean
  /** Extra Node.js options for some Rollcall agents (profiling: `['--cpu-prof', '--cpu-prof-dir=/tmp/prof']`). */
  nodeArgs?: (node: LabNode) => string[]
}

export interface Change {
  /** ms since the epoch: the agent's own timestamp (Rollcall) or arrival time (Serf). */
  t: number
  observer: string
  subject: string
  from: Status | null
  to: Status
  rule?: string
  /** The observer reached this verdict from its own probes (not from gossip or sync). */
  firstHand?: boolean
}

export interface LabNode {
  index: number
  name: string
  ip: string
  ns?: string
  dataDir: string
  logFile: string
  child?: ChildProcess
  pid?: number
  running: boolean
  stopped: boolean
  startedAt: number
  /** When the agent printed its ready line. */
  readyAt?: number
  exitCode?: number | null
  exitSignal?: NodeJS.Signals | null
  /** The agent's current view: subject name → status. */
  view: Map<string, Status>
  tail: string[]
  eventOffset: number
  partialLine: string
  generation: number
  /** Rollcall: the agent's own peer id (from its self:state events). */
  selfId?: string
  /** When the agent last printed a line (ms epoch): a Rollcall agent that is silent for long may be stuck. */
  lastOutputAt: number
}

// ---------------------------------------------------------------------------------------------
// Availability and cleanup

/** Why namespace mode cannot run here, or undefined when it can. */
export function nsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (run as root or in a privileged container)'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' })
  } catch (err) {
    return `\`ip netns\` is unavailable: ${(err as Error).message.split('\n')[0]}`
  }
  try {
    execFileSync('nft', ['--version'], { stdio: 'pipe' })
  } catch {
    return '`nft` (nftables) is not installed: loss and cuts need it'
  }
  const probe = `${NS_PREFIX}${process.pid}-probe`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' })
    execFileSync('ip', ['-n', probe, 'link', 'add', 'pb0', 'type', 'bridge'], { stdio: 'pipe' })
    execFileSync('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'rclab'], { stdio: 'pipe' })
  } catch (err) {
    return `cannot create a namespace with a bridge and an nftables table: ${(err as Error).message.split('\n')[0]}`
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' })
    } catch {}
  }
  return undefined
}

export function serfUnavailableReason(bin = 'serf'): string | undefined {
  try {
    execFileSync(bin, ['version'], { stdio: 'pipe' })
    return undefined
  } catch {
    return `${bin} not found: apt-get install -y serf (Debian package "serf")`
  }
}

/** Is `cmd` on PATH (answers `cmd --version`)? */
function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore', timeout: 5000 })
    return true
  } catch {
    return false
  }
}

/** Kernel function the process's main thread sleeps in ("0" while it runs) and its kernel stack (root only; at most 12 frames). */
function kernelWait(pid: number): { wchan: string; stack: string[] } | undefined {
  let wchan: string
  try {
    wchan = fs.readFileSync(`/proc/${pid}/wchan`, 'utf8').trim() || '0'
  } catch {
    return undefined
  }
  let stack: string[] = []
  try {
    stack = fs.readFileSync(`/proc/${pid}/stack`, 'utf8').split('\n').filter(Boolean).slice(0, 12)
  } catch {
    // not root, or a kernel without stack reporting: the wait channel alone still says a lot
  }
  return { wchan, stack }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function listLabNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n.startsWith(NS_PREFIX))
  } catch {
    return []
  }
}

function killNamespaceProcesses(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(/\s+/).filter(Boolean)
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL')
      } catch {}
    }
  } catch {}
}

/**
 * Delete namespaces named rc-lab-<pid>-… whose lab process is gone (a run killed with -9 or a crashed
 * test worker), together with the agents left inside them. Namespaces of running labs are kept, so a
 * test run and a bench can share the machine.
 */
export function sweepLeftovers(log?: (m: string) => void): number {
  let swept = 0
  for (const ns of listLabNamespaces()) {
    const owner = Number(ns.slice(NS_PREFIX.length).split('-')[0])
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidAlive(owner)) continue
    if (owner === process.pid && liveLabs.size > 0) continue
    killNamespaceProcesses(ns)
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' })
      swept++
    } catch {}
  }
  if (swept && log) log(`swept ${swept} leftover namespace(s) of dead lab processes`)
  return swept
}

const liveLabs = new Set<Lab>()
let exitHooksInstalled = false
function installExitHooks(): void {
  if (exitHooksInstalled) return
  exitHooksInstalled = true
  process.on('exit', () => {
    for (const lab of liveLabs) lab.closeSync()
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) lab.closeSync()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
}

// ---------------------------------------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

let labCounter = 0

export class Lab {
  readonly system: System
  readonly mode: Mode
  readonly n: number
  readonly root: string
  readonly nodes: LabNode[] = []
  readonly changes: Change[] = []
  readonly tag: string
  readonly brNs?: string
  private readonly opts: LabOptions
  private readonly base: string
  private pollTimer?: NodeJS.Timeout
  private closed = false
  private namespaces: string[] = []
  private lossPermille = 0
  private readonly log: (m: string) => void
  /** How long an accused agent must have been silent to be named in a timed-out wait (tests lower it). */
  silentAgentMs = SILENT_AGENT_MS

  private constructor(opts: LabOptions) {
    this.opts = opts
    this.system = opts.system
    this.mode = opts.mode
    this.n = opts.n
    this.log = opts.log ?? (() => {})
    this.tag = `${process.pid}-${(labCounter++).toString(36)}${Math.random().toString(36).slice(2, 5)}`
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `rc-lab-${opts.system}-`))
    // Loopback: a random 127.a.b.0/24 block per lab so concurrent labs never share an address.
    const a = 64 + Math.floor(Math.random() * 128)
    const b = Math.floor(Math.random() * 250)
    this.base = `127.${a}.${b}.`
    if (opts.mode === 'ns') this.brNs = `${NS_PREFIX}${this.tag}-br`
  }

  static async start(opts: LabOptions): Promise<Lab> {
    if (opts.mode === 'ns') {
      const why = nsUnavailableReason()
      if (why) throw new Error(`namespace mode unavailable: ${why}`)
    }
    if (opts.system === 'serf') {
      const why = serfUnavailableReason(opts.serfBin)
      if (why) throw new Error(why)
    }
    if (opts.system === 'rollcall' && !opts.rollcallConfig) ensureBuilt(opts.log)
    installExitHooks()
    sweepLeftovers(opts.log)
    const lab = new Lab(opts)
    liveLabs.add(lab)
    try {
      for (let i = 0; i < opts.n; i++) lab.nodes.push(lab.makeNode(i))
      if (opts.mode === 'ns') await lab.setupNetwork()
      lab.pollTimer = setInterval(() => lab.pollEventLogs(), POLL_MS)
      lab.spawnAll()
      if (!opts.noWait) await lab.waitFormed(opts.formTimeoutMs ?? 60_000 + opts.n * 3_000)
      return lab
    } catch (err) {
      await lab.close(true)
      throw err
    }
  }

  // --- network -------------------------------------------------------------------------------

  private nodeNs(i: number): string {
    return `${NS_PREFIX}${this.tag}-n${i}`
  }

  private async ip(...args: string[]): Promise<void> {
    await execFileP('ip', args)
  }

  private async nsExec(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
    if (input === undefined) return (await execFileP('ip', ['netns', 'exec', ns, cmd, ...args])).stdout
    return await new Promise<string>((resolve, reject) => {
      const c = execFile('ip', ['netns', 'exec', ns, cmd, ...args], (err, stdout, stderr) => (err ? reject(new Error(`${cmd} in ${ns}: ${stderr || err.message}`)) : resolve(stdout)))
      c.stdin!.end(input)
    })
  }

  private nft(ns: string, script: string): Promise<string> {
    return this.nsExec(ns, 'nft', ['-f', '-'], script)
  }

  private async setupNetwork(): Promise<void> {
    const br = this.brNs!
    await this.ip('netns', 'add', br)
    this.namespaces.push(br)
    await this.ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge')
    await this.ip('-n', br, 'link', 'set', 'br0', 'up')
    // Two cores: set the namespaces up a few at a time.
    const batch = 8
    for (let s = 0; s < this.n; s += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, this.n - s) }, (_, k) => this.setupNodeNs(s + k)))
    }
    for (let s = 0; s < this.n; s += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, this.n - s) }, (_, k) => this.setNeighbours(this.nodes[s + k], this.nodes)))
    }
  }

  private static mac(i: number): string {
    return `02:72:63:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`
  }

  /** In `at`'s namespace, a permanent neighbour entry for each node of `peers` at its current address (see the header). */
  private async setNeighbours(at: LabNode, peers: LabNode[]): Promise<void> {
    const lines = peers.filter((p) => p !== at).map((p) => `neigh replace ${p.ip} lladdr ${Lab.mac(p.index)} dev eth0 nud permanent`)
    if (lines.length > 0) await this.nsExec(at.ns!, 'ip', ['-batch', '-'], lines.join('\n') + '\n')
  }

  private async setupNodeNs(i: number): Promise<void> {
    const ns = this.nodeNs(i)
    const br = this.brNs!
    await this.ip('netns', 'add', ns)
    this.namespaces.push(ns)
    // No IPv6 duplicate address detection: while eth0's link-local address is "tentative", Serf's
    // mDNS poll fails on its IPv6 socket and gives up until its next poll, 60 s later.
    await this.nsExec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0'])
    await this.ip('-n', br, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'address', Lab.mac(i), 'netns', ns)
    await this.ip('-n', br, 'link', 'set', `v${i}`, 'master', 'br0')
    await this.ip('-n', br, 'link', 'set', `v${i}`, 'up')
    await this.ip('-n', ns, 'link', 'set', 'lo', 'up')
    await this.ip('-n', ns, 'addr', 'add', `${this.nsIp(i, 0)}/16`, 'dev', 'eth0')
    await this.ip('-n', ns, 'link', 'set', 'eth0', 'up')
    await this.ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    // Loss is applied on input only, so a packet crossing the bridge is dropped with probability p
    // once (not twice). Cuts drop by source on input and by destination on output. Counters see
    // what was sent (output) and what was received after loss and cuts (input).
    await this.nft(
      ns,
      `table inet rclab {
  counter tx_all {}
  counter tx_mdns {}
  counter rx_all {}
  counter rx_mdns {}
  set cut_in { type ipv4_addr; }
  set cut_out { type ipv4_addr; }
  set tcp_cut { type ipv4_addr; }
  chain loss {}
  chain input {
    type filter hook input priority -10; policy accept;
    iifname != "eth0" accept
    ip saddr @cut_in drop
    meta l4proto tcp ip saddr @tcp_cut drop
    jump loss
    # mDNS: queries and announcements to port 5353, unicast answers from it
    udp dport 5353 counter name rx_mdns
    udp sport 5353 udp dport != 5353 counter name rx_mdns
    counter name rx_all
  }
  chain output {
    type filter hook output priority -10; policy accept;
    oifname != "eth0" accept
    ip daddr @cut_out drop
    meta l4proto tcp ip daddr @tcp_cut drop
    udp dport 5353 counter name tx_mdns
    udp sport 5353 udp dport != 5353 counter name tx_mdns
    counter name tx_all
  }
}
`,
    )
  }

  private nsIp(i: number, gen: number): string {
    return `10.77.${gen}.${10 + i}`
  }

  // --- processes -----------------------------------------------------------------------------

  private makeNode(i: number): LabNode {
    const name = `n${i}`
    const dataDir = path.join(this.root, name)
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    return {
      index: i, name, dataDir, logFile: path.join(this.root, `${name}.log`),
      ip: this.mode === 'ns' ? this.nsIp(i, 0) : `${this.base}${i + 1}`,
      ns: this.mode === 'ns' ? this.nodeNs(i) : undefined,
      running: false, stopped: false, startedAt: 0, lastOutputAt: 0, view: new Map(), tail: [], eventOffset: 0, partialLine: '', generation: 0,
    }
  }

  /** Addresses a (re)started node joins through in loopback mode: the first three others. */
  private seeds(except: number): LabNode[] {
    return this.nodes.filter((n) => n.index !== except).slice(0, 3)
  }

  private commandFor(node: LabNode): { cmd: string; args: string[] } {
    if (this.system === 'rollcall') {
      const entry = this.opts.rollcallConfig ? [process.execPath, '--import', 'tsx', LAB_AGENT, '--config-json', JSON.stringify(this.opts.rollcallConfig)] : [process.execPath, ROLLCALL_BIN, 'agent']
      const args = [...entry.slice(1), '--data-dir', node.dataDir, '--name', node.name, '--group', 'lab', '--profile', this.opts.profile ?? 'lan', '--listen', `/ip4/${node.ip}/tcp/${ROLLCALL_PORT}`]
      if (this.mode === 'ns') args.push('--mdns-interface', 'eth0')
      else {
        args.push('--no-mdns')
        for (const s of this.seeds(node.index)) args.push('--bootstrap', `/ip4/${s.ip}/tcp/${ROLLCALL_PORT}`)
      }
      return { cmd: entry[0], args: [...(this.opts.nodeArgs?.(node) ?? []), ...args] }
    }
    const bin = this.opts.serfBin ?? 'serf'
    const args = ['agent', '-node', node.name, '-bind', `${node.ip}:${SERF_PORT}`, '-log-level', 'info']
    if (this.mode === 'ns') args.push('-rpc-addr', `127.0.0.1:${SERF_RPC_PORT}`, '-discover', 'rclab')
    else {
      args.push('-rpc-addr', `${node.ip}:${SERF_RPC_PORT}`)
      for (const s of this.seeds(node.index)) args.push('-join', `${s.ip}:${SERF_PORT}`)
      // Node 0 starts first and alone; the others join it (and two more as spares for restarts).
      if (node.index === 0 && node.generation === 0) args.splice(args.indexOf('-join'), args.length)
    }
    return { cmd: bin, args }
  }

  private spawnAll(): void {
    for (const node of this.nodes) this.spawnNode(node)
  }

  private spawnNode(node: LabNode): void {
    const { cmd, args } = this.commandFor(node)
    const full = node.ns ? { cmd: 'ip', args: ['netns', 'exec', node.ns, cmd, ...args] } : { cmd, args }
    const child = spawn(full.cmd, full.args, { stdio: ['ignore', 'pipe', 'pipe'], env: agentEnv() })
    node.child = child
    node.pid = child.pid
    node.running = true
    node.stopped = false
    node.startedAt = Date.now()
    node.lastOutputAt = node.startedAt
    node.readyAt = undefined
    node.exitCode = undefined
    node.exitSignal = undefined
    node.view = new Map()
    node.generation++
    const logStream = fs.createWriteStream(node.logFile, { flags: 'a' })
    logStream.write(`--- ${new Date().toISOString()} spawn ${full.cmd} ${full.args.join(' ')}\n`)
    let buf = ''
    const onData = (d: Buffer) => {
      logStream.write(d)
      buf += d.toString()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        this.onLine(node, child, line)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('exit', (code, signal) => {
      logStream.end(`--- exit code=${code} signal=${signal}\n`)
      if (node.child !== child) return
      node.running = false
      node.exitCode = code
      node.exitSignal = signal
    })
    // Rollcall: read its event log from where it ends now (the restarted agent appends to it).
    if (this.system === 'rollcall') {
      try {
        node.eventOffset = fs.statSync(path.join(node.dataDir, 'events.jsonl')).size
      } catch {
        node.eventOffset = 0
      }
      node.partialLine = ''
    }
  }

  private onLine(node: LabNode, child: ChildProcess, line: string): void {
    if (node.child !== child) return
    node.tail.push(line)
    node.lastOutputAt = Date.now()
    if (node.tail.length > OUTPUT_TAIL_LINES) node.tail.shift()
    if (this.system === 'rollcall') {
      if (!node.readyAt && line.includes('control socket ready')) node.readyAt = Date.now()
      return
    }
    // Serf and memberlist log lines, e.g. "2026/11/21 12:00:00 [INFO] serf: EventMemberFailed: n3 10.77.0.13"
    const now = Date.now()
    const m = /serf: EventMember(Join|Leave|Failed|Reap)(?: \(forced\))?: (\S+)/.exec(line)
    if (m) {
      const to: Status = m[1] === 'Join' ? 'alive' : m[1] === 'Leave' ? 'left' : m[1] === 'Failed' ? 'failed' : 'removed'
      if (m[2] === node.name && to === 'alive' && !node.readyAt) node.readyAt = now
      this.record(node, now, m[2], to, 'serf-log')
      return
    }
    // Serf logs when a suspicion starts (on the prober) but not when it is refuted: count it as a
    // change (for timings and false-suspicion counts) without putting the member in a suspect state.
    const s = /memberlist: Suspect (\S+) has failed, no acks received/.exec(line)
    if (s && node.view.get(s[1]) === 'alive') this.changes.push({ t: now, observer: node.name, subject: s[1], from: 'alive', to: 'suspect', rule: 'probe-failed', firstHand: true })
  }

  private record(node: LabNode, t: number, subject: string, to: Status, rule?: string, firstHand?: boolean): void {
    const from = node.view.get(subject) ?? null
    if (from === to) return
    if (to === 'removed') node.view.delete(subject)
    else node.view.set(subject, to)
    this.changes.push({ t, observer: node.name, subject, from, to, rule, firstHand })
  }

  /** Rollcall: read the new lines of every agent's events.jsonl. */
  private pollEventLogs(): void {
    if (this.system !== 'rollcall') return
    for (const node of this.nodes) {
      const file = path.join(node.dataDir, 'events.jsonl')
      let fd: number
      try {
        fd = fs.openSync(file, 'r')
      } catch {
        continue
      }
      try {
        const size = fs.fstatSync(fd).size
        if (size < node.eventOffset) node.eventOffset = 0 // rotated
        if (size === node.eventOffset) continue
        const buf = Buffer.alloc(size - node.eventOffset)
        fs.readSync(fd, buf, 0, buf.length, node.eventOffset)
        node.eventOffset = size
        const text = node.partialLine + buf.toString()
        const lines = text.split('\n')
        node.partialLine = lines.pop() ?? ''
        for (const l of lines) {
          if (!l.trim()) continue
          let ev: { ts: string; type: string; name?: string; id: string; to?: string; evidence?: { rule?: string; observer?: string } }
          try {
            ev = JSON.parse(l)
          } catch {
            continue
          }
          if (ev.type === 'self:state') node.selfId = ev.id
          if (!ev.type.startsWith('member:') || ev.type === 'member:updated') continue
          const to = (ev.type === 'member:removed' ? 'removed' : ev.to) as Status
          // Evidence travels with a record: its observer is whoever probed, so a verdict is
          // first-hand when that observer is this agent.
          const firstHand = node.selfId !== undefined && ev.evidence?.observer === node.selfId
          this.record(node, Date.parse(ev.ts), ev.name || ev.id, to, ev.evidence?.rule, firstHand)
        }
      } finally {
        fs.closeSync(fd)
      }
    }
  }

  // --- waiting and observing -----------------------------------------------------------------

  /** Re-check `pred` every 50 ms; resolves with the elapsed ms, or throws naming `what` and the views. */
  async waitUntil(what: string, pred: () => boolean, timeoutMs: number): Promise<number> {
    const start = Date.now()
    for (;;) {
      this.pollEventLogs()
      if (pred()) return Date.now() - start
      if (Date.now() - start > timeoutMs) {
        const stuck = await this.diagnoseSilentAgents()
        throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\n${stuck}${this.describeViews()}`)
      }
      await sleep(POLL_MS)
    }
  }

  running(): LabNode[] {
    return this.nodes.filter((n) => n.running)
  }

  /** Running, not frozen nodes: the observers whose views should agree. */
  observers(except: LabNode[] = []): LabNode[] {
    return this.nodes.filter((n) => n.running && !n.stopped && !except.includes(n))
  }

  /** Does every observer see `subject` in one of `statuses`? */
  allSee(subject: LabNode, statuses: Status[], observers = this.observers([subject])): boolean {
    return observers.every((o) => statuses.includes(o.view.get(subject.name) ?? 'removed'))
  }

  /** Every running node sees every running node alive (itself included). */
  formed(): boolean {
    const live = this.observers()
    return live.length === this.nodes.filter((n) => n.running).length && live.every((o) => live.every((s) => o.view.get(s.name) === 'alive'))
  }

  async waitFormed(timeoutMs: number): Promise<number> {
    return this.waitUntil(`all ${this.running().length} running agents see each other alive`, () => this.formed(), timeoutMs)
  }

  /** When each observer first recorded `subject` → one of `statuses` at or after t0 (ms epoch). */
  firstTimes(subject: LabNode, statuses: Status[], t0: number, observers = this.observers([subject])): Map<string, number> {
    const out = new Map<string, number>()
    const names = new Set(observers.map((o) => o.name))
    for (const c of this.changes) {
      if (c.t < t0 - 5 || c.subject !== subject.name || !statuses.includes(c.to) || !names.has(c.observer) || out.has(c.observer)) continue
      out.set(c.observer, c.t)
    }
    return out
  }

  /** Changes about `subject` since t0 (for counting false suspicions and failures). */
  changesSince(t0: number, filter: (c: Change) => boolean = () => true): Change[] {
    return this.changes.filter((c) => c.t >= t0 && filter(c))
  }

  /**
   * For a failure message: running, not frozen Rollcall agents that have printed nothing for
   * minSilentMs while another agent holds them suspect or failed, with their CPU use over one second
   * and their process state (a busy loop shows ~1 s of CPU, a blocked one none). A live agent that
   * is accused refutes, and logs what it hears, so a long silence then means it may be stuck (seen
   * once: an agent that stopped logging and answering during a start of 40). Where gdb is installed,
   * each such agent's JavaScript stack (V8's own printer, to the agent's stdout, so its log) and
   * its main thread's native stack are written to its log file too. Empty when none is silent.
   */
  async diagnoseSilentAgents(minSilentMs = this.silentAgentMs): Promise<string> {
    if (this.system !== 'rollcall') return ''
    const doubted = (n: LabNode) => this.observers([n]).some((o) => ['suspect', 'failed'].includes(o.view.get(n.name) ?? ''))
    const silent = this.nodes.filter((n) => n.running && !n.stopped && n.pid && Date.now() - n.lastOutputAt > minSilentMs && doubted(n)).slice(0, MAX_DIAGNOSED_AGENTS)
    if (silent.length === 0) return ''
    const cpu0 = silent.map((n) => this.procStats(n)?.cpuSec)
    await sleep(1000)
    const gdb = hasCommand('gdb')
    const lines: string[] = []
    for (const [i, n] of silent.entries()) {
      const now = this.procStats(n)
      const silentS = Math.round((Date.now() - n.lastOutputAt) / 1000)
      const cpu = cpu0[i] !== undefined && now ? `${(now.cpuSec - cpu0[i]!).toFixed(2)} s of CPU in 1 s` : 'CPU unknown'
      // Where the main thread sleeps in the kernel: pipe_write (its log pipe is full: whoever reads
      // it has stopped), futex_wait (a lock), ep_poll (idle in its event loop: waiting for I/O that
      // does not come), do_signal_stop (stopped). "0" means it is running.
      const k = kernelWait(n.pid!)
      const where = k ? (k.wchan === '0' ? ', running' : `, waiting in ${k.wchan}`) : ''
      if (k?.stack.length) fs.appendFileSync(n.logFile, `--- ${new Date().toISOString()} silent ${silentS} s; kernel stack of the main thread:\n${k.stack.join('\n')}\n`)
      let stacks = ''
      if (gdb) {
        try {
          const out = execFileSync('gdb', ['-batch', '-p', String(n.pid), '-ex', 'call (void)_v8_internal_Print_StackTrace()', '-ex', 'thread 1', '-ex', 'bt 40'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] })
          fs.appendFileSync(n.logFile, `--- ${new Date().toISOString()} silent ${silentS} s; gdb (the JavaScript stack is the agent's own output, near this line):\n${out}\n`)
          stacks = `; stacks in ${n.logFile}`
        } catch (err) {
          stacks = `; gdb failed: ${(err as Error).message.split('\n')[0]}`
        }
      }
      lines.push(`  ${n.name} (pid ${n.pid}) printed nothing for ${silentS} s: state ${now?.state ?? '?'}, ${cpu}${where}${stacks}`)
    }
    return `silent agents (possibly stuck):\n${lines.join('\n')}\n`
  }

  describeViews(): string {
    return this.nodes
      .map((o) => {
        const state = !o.running ? 'down' : o.stopped ? 'frozen' : 'up'
        const v = [...o.view.entries()].sort().map(([k, s]) => `${k}=${s}`).join(' ')
        return `  ${o.name} (${state}, ${o.ip}): ${v}`
      })
      .join('\n')
  }

  /** Last lines of an agent's output, for failure messages. */
  output(node: LabNode, lines = 40): string {
    return node.tail.slice(-lines).join('\n')
  }

  /** The agent's real view, polled: Rollcall's control socket (what `members --json` prints), `serf members -format json`. */
  async members(node: LabNode): Promise<Array<{ name: string; status: string; incarnation?: number; addrs?: string[] }>> {
    if (this.system === 'rollcall') {
      return (await controlRequest(node.dataDir, 'members', undefined, { timeoutMs: 5000 })) as Array<{ name: string; status: string; incarnation: number; addrs: string[] }>
    }
    const bin = this.opts.serfBin ?? 'serf'
    const rpc = this.mode === 'ns' ? `127.0.0.1:${SERF_RPC_PORT}` : `${node.ip}:${SERF_RPC_PORT}`
    const args = ['members', '-rpc-addr', rpc, '-format', 'json']
    const out = node.ns ? await this.nsExec(node.ns, bin, args) : (await execFileP(bin, args)).stdout
    const parsed = JSON.parse(out) as { members: Array<{ name: string; status: string; addr: string }> }
    return parsed.members.map((m) => ({ name: m.name, status: m.status, addrs: [m.addr] }))
  }

  // --- process faults ------------------------------------------------------------------------

  node(i: number): LabNode {
    return this.nodes[i]
  }

  private signal(node: LabNode, sig: NodeJS.Signals): void {
    if (!node.pid || !node.running) throw new Error(`${node.name} is not running`)
    process.kill(node.pid, sig)
  }

  /** kill -9. Resolves once the process is gone. */
  async kill(node: LabNode): Promise<number> {
    const t = Date.now()
    if (node.stopped) node.stopped = false
    this.signal(node, 'SIGKILL')
    await this.waitExit(node, 5000)
    return t
  }

  /** SIGSTOP: a frozen machine. */
  freeze(node: LabNode): number {
    const t = Date.now()
    this.signal(node, 'SIGSTOP')
    node.stopped = true
    return t
  }

  thaw(node: LabNode): number {
    const t = Date.now()
    this.signal(node, 'SIGCONT')
    node.stopped = false
    return t
  }

  /** Graceful leave: SIGTERM for Rollcall, SIGINT for Serf (Serf's agent leaves on interrupt only). Resolves with the signal time; waits for exit. */
  async leave(node: LabNode, exitTimeoutMs = 15_000): Promise<number> {
    const t = Date.now()
    this.signal(node, this.system === 'serf' ? 'SIGINT' : 'SIGTERM')
    await this.waitExit(node, exitTimeoutMs)
    return t
  }

  private async waitExit(node: LabNode, timeoutMs: number): Promise<void> {
    const start = Date.now()
    while (node.running && Date.now() - start < timeoutMs) await sleep(20)
    if (node.running) {
      this.log(`${node.name} did not exit in ${timeoutMs} ms: SIGKILL`)
      process.kill(node.pid!, 'SIGKILL')
      while (node.running && Date.now() - start < timeoutMs + 5000) await sleep(20)
    }
  }

  /** Start the node again with the same data dir; `newIp` moves it to a new address first (namespace mode, or a new 127.x address). Returns the spawn time. */
  async restart(node: LabNode, opts: { newIp?: boolean } = {}): Promise<number> {
    if (node.running) throw new Error(`${node.name} is still running`)
    if (opts.newIp) {
      if (node.ns) {
        const gen = Number(node.ip.split('.')[2]) + 1
        const ip = this.nsIp(node.index, gen)
        await this.ip('-n', node.ns, 'addr', 'flush', 'dev', 'eth0')
        await this.ip('-n', node.ns, 'addr', 'add', `${ip}/16`, 'dev', 'eth0')
        await this.ip('-n', node.ns, 'route', 'replace', '224.0.0.0/4', 'dev', 'eth0')
        node.ip = ip
        await Promise.all(this.nodes.filter((o) => o !== node).map((o) => this.setNeighbours(o, [node])))
      } else {
        node.ip = `${this.base}${100 + node.index + node.generation}`
      }
    }
    this.spawnNode(node)
    return node.startedAt
  }

  // --- network faults (namespace mode) -------------------------------------------------------

  private needNs(what: string): void {
    if (this.mode !== 'ns') throw new Error(`${what} needs namespace mode`)
  }

  /** Pull the cable: the bridge side of the node's veth goes down (the node sees no carrier). */
  async linkDown(node: LabNode): Promise<number> {
    this.needNs('linkDown')
    const t = Date.now()
    await this.ip('-n', this.brNs!, 'link', 'set', `v${node.index}`, 'down')
    return t
  }

  async linkUp(node: LabNode): Promise<number> {
    this.needNs('linkUp')
    const t = Date.now()
    await this.ip('-n', this.brNs!, 'link', 'set', `v${node.index}`, 'up')
    await this.ip('-n', node.ns!, 'route', 'replace', '224.0.0.0/4', 'dev', 'eth0')
    return t
  }

  /** A flapping link: `count` cycles of down for downMs, up for upMs. Bounded in count and time. */
  async flap(node: LabNode, count: number, downMs: number, upMs: number): Promise<void> {
    for (let k = 0; k < Math.min(count, 100); k++) {
      await this.linkDown(node)
      await sleep(downMs)
      await this.linkUp(node)
      await sleep(upMs)
    }
  }

  /** Random loss on every packet each node receives on eth0 (input, so once per hop). percent ∈ [0, 100]. */
  async setLoss(percent: number, nodes = this.nodes): Promise<void> {
    this.needNs('setLoss')
    const permille = Math.round(percent * 10)
    this.lossPermille = permille
    await Promise.all(
      nodes.map((n) => this.nft(n.ns!, `flush chain inet rclab loss\n${permille > 0 ? `add rule inet rclab loss numgen random mod 1000 < ${permille} drop\n` : ''}`)),
    )
  }

  /** Symmetric partition: nothing crosses between `a` and `b` (multicast included). */
  async partition(a: LabNode[], b: LabNode[]): Promise<number> {
    this.needNs('partition')
    const t = Date.now()
    const block = (side: LabNode[], other: LabNode[]) =>
      Promise.all(side.map((n) => this.nft(n.ns!, `add element inet rclab cut_in { ${other.map((o) => o.ip).join(', ')} }\nadd element inet rclab cut_out { ${other.map((o) => o.ip).join(', ')} }\n`)))
    await Promise.all([block(a, b), block(b, a)])
    return t
  }

  /** Asymmetric fault: packets from `from` to `to` are dropped; every other path works. */
  async cut(from: LabNode, to: LabNode): Promise<number> {
    this.needNs('cut')
    const t = Date.now()
    await this.nft(from.ns!, `add element inet rclab cut_out { ${to.ip} }\n`)
    await this.nft(to.ns!, `add element inet rclab cut_in { ${from.ip} }\n`)
    return t
  }

  /** `node` exchanges no TCP with any other node (no libp2p connection); UDP, so mDNS, still flows. */
  async cutTcp(node: LabNode): Promise<number> {
    this.needNs('cutTcp')
    const t = Date.now()
    const others = this.nodes.filter((o) => o !== node).map((o) => o.ip)
    await this.nft(node.ns!, `add element inet rclab tcp_cut { ${others.join(', ')} }\n`)
    return t
  }

  /** Remove every cut and partition (loss stays as set). */
  async heal(): Promise<number> {
    this.needNs('heal')
    const t = Date.now()
    await Promise.all(this.nodes.map((n) => this.nft(n.ns!, 'flush set inet rclab cut_in\nflush set inet rclab cut_out\nflush set inet rclab tcp_cut\n')))
    return t
  }

  // --- resources -----------------------------------------------------------------------------

  /** CPU seconds (user + system) and RSS bytes of the agent process, from /proc. */
  procStats(node: LabNode): { cpuSec: number; rssBytes: number; state: string } | undefined {
    if (!node.pid || !node.running) return undefined
    try {
      const stat = fs.readFileSync(`/proc/${node.pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14, 15)
      const status = fs.readFileSync(`/proc/${node.pid}/status`, 'utf8')
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
      return { cpuSec: ticks / 100, rssBytes: rssKb * 1024, state: /State:\s+(.*)/.exec(status)?.[1] ?? '?' }
    } catch {
      return undefined
    }
  }

  /** Byte counters of the node's eth0 (namespace mode): everything, and the mDNS part. */
  async traffic(node: LabNode): Promise<{ txBytes: number; rxBytes: number; txMdnsBytes: number; rxMdnsBytes: number; txPackets: number; rxPackets: number }> {
    this.needNs('traffic')
    const out = JSON.parse(await this.nsExec(node.ns!, 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'rclab'])) as {
      nftables: Array<{ counter?: { name: string; bytes: number; packets: number } }>
    }
    const c = new Map(out.nftables.filter((e) => e.counter).map((e) => [e.counter!.name, e.counter!]))
    return {
      txBytes: c.get('tx_all')?.bytes ?? 0, rxBytes: c.get('rx_all')?.bytes ?? 0,
      txMdnsBytes: c.get('tx_mdns')?.bytes ?? 0, rxMdnsBytes: c.get('rx_mdns')?.bytes ?? 0,
      txPackets: c.get('tx_all')?.packets ?? 0, rxPackets: c.get('rx_all')?.packets ?? 0,
    }
  }

  // --- teardown ------------------------------------------------------------------------------

  /** Stop every agent (SIGKILL: fast; graceful leaves are a scenario, not teardown) and delete the namespaces. */
  async close(failed = false): Promise<void> {
    if (this.closed) return
    if (this.pollTimer) clearInterval(this.pollTimer)
    this.killAgents()
    const start = Date.now()
    while (this.nodes.some((n) => n.running) && Date.now() - start < 5000) await sleep(20)
    this.closeSync(failed)
  }

  private killAgents(): void {
    for (const node of this.nodes) {
      if (node.running && node.pid) {
        try {
          process.kill(node.pid, 'SIGKILL')
        } catch {}
      }
    }
  }

  /** Synchronous teardown for exit and signal handlers. Safe to repeat. */
  closeSync(failed = false): void {
    if (this.closed) return
    this.closed = true
    if (this.pollTimer) clearInterval(this.pollTimer)
    this.killAgents()
    for (const ns of [...this.namespaces].reverse()) {
      killNamespaceProcesses(ns)
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' })
      } catch {}
    }
    liveLabs.delete(this)
    if (!this.opts.keep && !failed) {
      try {
        fs.rmSync(this.root, { recursive: true, force: true })
      } catch {}
    } else this.log(`lab files kept in ${this.root}`)
  }
}
