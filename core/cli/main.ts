// The headless CLI: `rollcall agent` runs a node in the foreground; the other subcommands talk to
// the running agent through the control socket in its data dir, or read its event log directly.

import '../libp2p/polyfill.js'
import { writeFileSync } from 'node:fs'
import { parseArgs, parseTags, UsageError } from './args.js'
import { resolveDataDir } from '../node/datadir.js'
import { controlFollow, controlRequest, NoAgentError, startControlServer } from '../node/control.js'
import { exportCsv, exportJsonl, readEventLogFiles, type LogEntry } from '../node/eventlog.js'
import { explainEvidence } from '../protocol/explain.js'
import type { Evidence } from '../protocol/types.js'
import { createNode, type Member, type RollcallNode } from '../node/node.js'
import { resolveInterface } from '../libp2p/mdns.js'

const VERSION = '0.1.0'

const HELP = `rollcall ${VERSION}: peer-based membership for lab machines

usage:
  rollcall agent   [--name NAME] [--data-dir DIR] [--group G] [--listen MULTIADDR]…
                   [--bootstrap MULTIADDR]… [--no-mdns] [--mdns-interface IFACE]
                   [--profile lan|local] [--key-file FILE] [--group-key-file FILE]
                   [--tag k=v]… [--no-join] [--log-json]
                   [--dashboard HOST:PORT] [--dashboard-allow-remote]
  rollcall members [--data-dir DIR] [--json]
  rollcall status  [--data-dir DIR] [--json]
  rollcall events  [--data-dir DIR] [--follow] [--json] [--limit N]
  rollcall join    [--data-dir DIR]
  rollcall leave   [--data-dir DIR]
  rollcall export  --format jsonl|csv [--out FILE] [--data-dir DIR]

The agent runs in the foreground until SIGINT or SIGTERM, which make it leave the group
gracefully and exit 0. The other commands talk to the agent running on the same data dir
(default: ${resolveDataDir()}); events and export read its event log even when it is stopped.`

const DATA_DIR = { kind: 'string' } as const

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP)
      return cmd === undefined ? 2 : 0
    case '--version':
    case 'version':
      console.log(VERSION)
      return 0
    case 'agent':
      return agent(rest)
    case 'members':
      return members(rest)
    case 'status':
      return status(rest)
    case 'events':
      return events(rest)
    case 'join':
    case 'leave':
      return joinLeave(cmd, rest)
    case 'export':
      return exportCmd(rest)
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)} (see rollcall --help)`)
  }
}

function wantsHelp(rest: string[]): boolean {
  return rest.includes('--help') || rest.includes('-h')
}

// ---------------------------------------------------------------------------------------------
// agent

function logLine(json: boolean) {
  return (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => {
    const ts = new Date().toISOString()
    if (json) {
      console.log(JSON.stringify({ ts, level, msg, ...data }))
      return
    }
    const kv = data
      ? Object.entries(data)
        .filter(([, v]) => v !== undefined && v !== null)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
        .join(' ')
      : ''
    console.log(`${ts} ${level.toUpperCase().padEnd(4)} ${msg}${kv ? ' ' + kv : ''}`)
  }
}

async function agent(rest: string[]): Promise<number> {
  if (wantsHelp(rest)) {
    console.log(HELP)
    return 0
  }
  const { flags } = parseArgs(rest, {
    command: 'rollcall agent',
    flags: {
      name: { kind: 'string' }, 'data-dir': DATA_DIR, group: { kind: 'string' }, listen: { kind: 'list' }, bootstrap: { kind: 'list' },
      mdns: { kind: 'boolean', default: true }, 'mdns-interface': { kind: 'string' }, profile: { kind: 'string', choices: ['lan', 'local'] },
      'key-file': { kind: 'string' }, 'group-key-file': { kind: 'string' }, tag: { kind: 'list' }, join: { kind: 'boolean', default: true },
      'log-json': { kind: 'boolean' }, dashboard: { kind: 'string' }, 'dashboard-allow-remote': { kind: 'boolean' },
    },
  })
  const log = logLine(flags['log-json'] === true)
  const dataDir = resolveDataDir(flags['data-dir'])
  if (flags.mdns === false && flags['mdns-interface']) throw new UsageError('--mdns-interface cannot be combined with --no-mdns (see rollcall agent --help)')
  // Check the interface before anything starts: a typo must not fall back to every interface.
  if (flags['mdns-interface']) resolveInterface(flags['mdns-interface'])
  const mdns = flags.mdns === false ? false : flags['mdns-interface'] ? { interface: flags['mdns-interface'] } : true
  const node = createNode({
    dataDir, name: flags.name, group: flags.group, listen: flags.listen.length ? flags.listen : undefined, bootstrap: flags.bootstrap,
    mdns, profile: flags.profile as 'lan' | 'local' | undefined, keyFile: flags['key-file'], groupKeyFile: flags['group-key-file'],
    tags: parseTags(flags.tag), logger: log,
  })
  await node.start()
  // Join before anything else is set up: a restart's announcement is what tells the group it is
  // back, so it goes out first. Awaited below; a failure is kept until then (not unhandled).
  const joining = flags.join ? node.join().then(() => undefined, (err: unknown) => ({ err })) : undefined
  const control = await startControlServer(dataDir, controlHandler(node))
  log('info', 'control socket ready', { path: control.path })
  const dashboard = flags.dashboard === undefined ? undefined : await (await import('../dashboard/agent.js')).startAgentDashboard(node, {
    listen: flags.dashboard, allowRemote: flags['dashboard-allow-remote'], version: VERSION, log,
    settings: { name: flags.name ?? '', group: node.group, groupKeyFile: flags['group-key-file'] ?? '', bootstrap: flags.bootstrap, mdnsInterface: flags.mdns === false ? 'off' : flags['mdns-interface'] ?? '', autoJoin: flags.join },
  })

  let stoppingAtMs = 0
  const shutdown = async (signal: string) => {
    if (stoppingAtMs > 0) {
      // timeout(1) and systemd signal the child and then its whole process group: a duplicate
      // within a second is the same request. A later one is the user insisting.
      if (Date.now() - stoppingAtMs < 1000) return
      log('warn', `second ${signal}: exiting without leaving`)
      process.exit(1)
    }
    stoppingAtMs = Date.now()
    log('info', `${signal}: leaving the group`)
    const timeout = new Promise<void>((r) => setTimeout(r, 5000).unref())
    await Promise.race([node.leave().catch((err) => log('warn', 'leave failed', { error: String(err) })), timeout])
    await control.close()
    await dashboard?.close()
    await node.stop()
    log('info', 'stopped')
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  const joinFailure = await joining
  if (joinFailure) throw joinFailure.err
  // Keep the process alive: the node's timers are unref'd so a library user's process can exit.
  setInterval(() => {}, 1 << 30)
  return await new Promise<number>(() => {})
}

/** What the agent process itself costs (`rollcall status` prints it; the bench reads it). */
function processFigures() {
  const m = process.memoryUsage()
  const cpu = process.cpuUsage()
  const MiB = 2 ** 20
  return {
    uptimeSec: Math.round(process.uptime()),
    cpuSec: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    rssMiB: +(m.rss / MiB).toFixed(1),
    heapUsedMiB: +(m.heapUsed / MiB).toFixed(1),
    heapTotalMiB: +(m.heapTotal / MiB).toFixed(1),
    externalMiB: +(m.external / MiB).toFixed(1),
    arrayBuffersMiB: +(m.arrayBuffers / MiB).toFixed(1),
  }
}

/** The agent's control commands. Arguments from the socket are untrusted: validate them. */
function controlHandler(node: RollcallNode) {
  return {
    members: () => node.members(),
    self: () => node.self(),
    status: () => ({ ...node.snapshot(), process: processFigures() }),
    join: async () => {
      await node.join()
      return node.self()
    },
    leave: async () => {
      await node.leave()
      return node.self()
    },
    events: (args: unknown) => {
      const a = (args ?? {}) as { sinceSeq?: unknown; limit?: unknown }
      const sinceSeq = typeof a.sinceSeq === 'number' && Number.isInteger(a.sinceSeq) && a.sinceSeq >= 0 ? a.sinceSeq : 0
      const limit = typeof a.limit === 'number' && Number.isInteger(a.limit) && a.limit > 0 ? Math.min(a.limit, 100_000) : 10_000
      return node.events({ sinceSeq, limit })
    },
    follow: (args: unknown, push: (ev: unknown) => void) => {
      const a = (args ?? {}) as { fromSeq?: unknown }
      const fromSeq = typeof a.fromSeq === 'number' && Number.isInteger(a.fromSeq) && a.fromSeq >= 0 ? a.fromSeq : Number.MAX_SAFE_INTEGER
      return node.followLog(fromSeq, push)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// client commands

function simpleFlags(rest: string[], command: string, extra: Record<string, { kind: 'string' | 'boolean' | 'list'; choices?: readonly string[] }> = {}) {
  return parseArgs(rest, { command, flags: { 'data-dir': DATA_DIR, json: { kind: 'boolean' }, ...extra } }).flags as Record<string, unknown>
}

function nameOfFrom(members: Member[]) {
  const names = new Map(members.map((m) => [m.id, m.name]))
  return (id: string) => names.get(id) ?? '…' + id.slice(-8)
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n')
}

async function members(rest: string[]): Promise<number> {
  if (wantsHelp(rest)) return (console.log(HELP), 0)
  const flags = simpleFlags(rest, 'rollcall members')
  const dir = resolveDataDir(flags['data-dir'] as string | undefined)
  const list = (await controlRequest(dir, 'members')) as Member[]
  if (flags.json) {
    console.log(JSON.stringify(list.map((m) => ({ id: m.id, name: m.name, status: m.status, incarnation: m.incarnation, addrs: m.addrs, tags: m.tags, since: m.since, evidence: m.evidence ?? null, isSelf: m.isSelf })), null, 2))
    return 0
  }
  const nameOf = nameOfFrom(list)
  const rows = [['NAME', 'STATUS', 'INC', 'SINCE', 'ID', 'WHY']]
  for (const m of list.sort((a, b) => a.name.localeCompare(b.name))) {
    rows.push([m.name + (m.isSelf ? ' (self)' : ''), m.status, String(m.incarnation), m.since.slice(11, 19), '…' + m.id.slice(-10), m.status === 'alive' ? '' : explainEvidence(m.evidence as Evidence | undefined, nameOf)])
  }
  console.log(table(rows))
  return 0
}

async function status(rest: string[]): Promise<number> {
  if (wantsHelp(rest)) return (console.log(HELP), 0)
  const flags = simpleFlags(rest, 'rollcall status')
  const dir = resolveDataDir(flags['data-dir'] as string | undefined)
  const snap = (await controlRequest(dir, 'status')) as { self: Member; group: string; state: string; digest: string; members: Member[]; stats: unknown; process?: ReturnType<typeof processFigures> }
  if (flags.json) {
    console.log(JSON.stringify(snap, null, 2))
    return 0
  }
  const counts: Record<string, number> = {}
  for (const m of snap.members) counts[m.status] = (counts[m.status] ?? 0) + 1
  console.log(`${snap.self.name} (${snap.self.id}) in group ${snap.group}: ${snap.state}, incarnation ${snap.self.incarnation}`)
  console.log(`members: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}; view digest ${snap.digest}`)
  const p = snap.process
  if (p) console.log(`process: up ${p.uptimeSec} s, CPU ${p.cpuSec} s, RSS ${p.rssMiB} MiB (JS heap ${p.heapUsedMiB} of ${p.heapTotalMiB} MiB, external ${p.externalMiB} MiB)`)
  return 0
}

function formatEntry(e: LogEntry): string {
  const why = e.evidence ? ' — ' + explainEvidence(e.evidence as Evidence) : ''
  return `${e.ts} #${e.seq} ${e.type} ${e.name || '…' + e.id.slice(-8)} ${e.from ?? '∅'} → ${e.to} (inc ${e.incarnation})${why}`
}

async function events(rest: string[]): Promise<number> {
  if (wantsHelp(rest)) return (console.log(HELP), 0)
  const flags = simpleFlags(rest, 'rollcall events', { follow: { kind: 'boolean' }, limit: { kind: 'string' } })
  const dir = resolveDataDir(flags['data-dir'] as string | undefined)
  const limit = flags.limit === undefined ? 1000 : Number(flags.limit)
  if (!Number.isInteger(limit) || limit <= 0) throw new UsageError('--limit must be a positive integer (see rollcall events --help)')
  const { entries } = readEventLogFiles(dir, { last: limit })
  const print = (e: LogEntry) => console.log(flags.json ? JSON.stringify(e) : formatEntry(e))
  for (const e of entries.slice(-limit)) print(e)
  if (!flags.follow) return 0
  const last = entries.at(-1)?.seq ?? 0
  const f = controlFollow(dir, { fromSeq: last + 1 }, (e) => print(e as LogEntry))
  await f.ready
  await f.closed
  return 0
}

async function joinLeave(cmd: 'join' | 'leave', rest: string[]): Promise<number> {
  if (wantsHelp(rest)) return (console.log(HELP), 0)
  const flags = simpleFlags(rest, `rollcall ${cmd}`)
  const dir = resolveDataDir(flags['data-dir'] as string | undefined)
  const self = (await controlRequest(dir, cmd, undefined, { timeoutMs: 30_000 })) as Member
  console.log(cmd === 'join' ? `joined as ${self.name} (incarnation ${self.incarnation})` : `left the group (the agent keeps running; \`rollcall join\` to rejoin)`)
  return 0
}

async function exportCmd(rest: string[]): Promise<number> {
  if (wantsHelp(rest)) return (console.log(HELP), 0)
  const flags = simpleFlags(rest, 'rollcall export', { format: { kind: 'string', choices: ['jsonl', 'csv'] }, out: { kind: 'string' } })
  if (!flags.format) throw new UsageError('--format jsonl|csv is required (see rollcall export --help)')
  const dir = resolveDataDir(flags['data-dir'] as string | undefined)
  const { entries, skippedLines: skipped, truncated } = readEventLogFiles(dir)
  if (truncated) console.error(`rollcall: the log holds more events than one export takes; exported the first ${entries.length}`)
  const text = flags.format === 'csv' ? exportCsv(entries) : exportJsonl(entries)
  if (flags.out) {
    writeFileSync(flags.out as string, text)
    console.error(`wrote ${entries.length} events to ${flags.out}${skipped ? ` (${skipped} torn lines skipped)` : ''}`)
  } else {
    process.stdout.write(text)
  }
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const e = err as Error
    const known = ['UsageError', 'NoAgentError', 'DataDirError', 'AgentRunningError', 'IdentityError', 'InvalidOptionsError', 'InvalidConfigError', 'MdnsInterfaceError', 'TransportConfigError', 'ControlTimeoutError', 'DashboardConfigError']
    if (known.includes(e?.name) || err instanceof NoAgentError) {
      console.error(`rollcall: ${e.message}`)
      process.exit(e.name === 'UsageError' ? 2 : 1)
    }
    console.error(`rollcall: unexpected error: ${e?.stack ?? String(err)}`)
    process.exit(1)
  },
)
