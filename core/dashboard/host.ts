// The host side of the contract, shared by the Electron main process and the browser dashboard:
// command handlers over a running node (through the public API only), and the push stream that
// coalesces protocol events into one batch per BATCH_INTERVAL_MS. The transports (ipcMain, the
// WebSocket) only check senders, validate with the contract and forward here.

import type { NodeEvent, RollcallNode } from '../node/node.js'
import type { LogEntry } from '../node/eventlog.js'
import { exportCsv, exportJsonl } from '../node/eventlog.js'
import {
  BATCH_INTERVAL_MS, CONTRACT_VERSION, MAX_EVENTS_PER_BATCH, MAX_EVENTS_PER_QUERY, SNAPSHOT_REFRESH_MS, validateCommand,
  type CommandHandlers, type CommandName, type ExportFormat, type ExportResult, type HostInfo, type OpenLogResult, type Push,
  type Settings, type UiSnapshot,
} from '../contract.js'

/** The part of RollcallNode the host uses (tests pass a fake). */
export type HostedNode = Pick<RollcallNode, 'snapshot' | 'join' | 'leave' | 'events' | 'followLog'> & {
  on(type: '*', fn: (ev: NodeEvent) => void): unknown
  off(type: '*', fn: (ev: NodeEvent) => void): unknown
}

export interface ApiHostOptions {
  info: Omit<HostInfo, 'contractVersion'>
  /** Current settings (the dashboard: the agent's flags). */
  getSettings(): Settings
  /** Persist settings; absent = read-only (saveSettings then fails with a message in words). */
  saveSettings?(s: Settings): Settings | Promise<Settings>
  /** Deliver an export: Electron shows a save dialog; default returns the text for a browser download. */
  deliverExport?(format: ExportFormat, text: string, count: number, suggestedName: string): Promise<ExportResult>
  /** Electron's open dialog; absent in the dashboard (the page reads the file itself). */
  openLog?(): Promise<OpenLogResult>
  batchIntervalMs?: number
  snapshotRefreshMs?: number
  /** Timer functions (tests use fake timers; defaults are the globals). */
  setInterval?: typeof setInterval
  clearInterval?: typeof clearInterval
}

export class HostError extends Error {
  override name = 'HostError'
}

export interface ApiHost {
  readonly handlers: CommandHandlers
  /** Validate a command from an untrusted page and run it. Throws ContractError or the handler's error. */
  call(name: unknown, rawArg: unknown): Promise<unknown>
  /** Receive pushes. Batching runs only while someone subscribes. */
  subscribe(fn: (push: Push) => void): () => void
  /** Send a notice to every subscriber now (not batched: notices are rare). */
  notice(level: 'info' | 'warn', message: string): void
  close(): void
}

export function uiSnapshot(node: HostedNode): UiSnapshot {
  const s = node.snapshot()
  return { self: s.self, group: s.group, state: s.state, digest: s.digest, peerDigests: s.peerDigests, members: s.members, health: s.stats.health, at: s.at }
}

/** Suggested export file name: rollcall-<name>-<yyyymmdd-hhmmss>.<ext>. */
export function exportFileName(selfName: string, format: ExportFormat, now = new Date()): string {
  const safe = selfName.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 40) || 'node'
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `rollcall-${safe}-${stamp}.${format}`
}

export function createApiHost(node: HostedNode, opts: ApiHostOptions): ApiHost {
  const batchMs = opts.batchIntervalMs ?? BATCH_INTERVAL_MS
  const refreshMs = opts.snapshotRefreshMs ?? SNAPSHOT_REFRESH_MS
  const setI = opts.setInterval ?? setInterval
  const clearI = opts.clearInterval ?? clearInterval
  const subscribers = new Set<(p: Push) => void>()

  let pending: LogEntry[] = []
  let dropped = 0
  let dirty = true
  let lastSnapshotAt = -Infinity
  let lastSnapshotJson = ''
  let batchNo = 0
  let timer: ReturnType<typeof setInterval> | undefined
  let unfollow: (() => void) | undefined
  let elapsedMs = 0
  const onAny = () => {
    dirty = true
  }

  const handlers: CommandHandlers = {
    getInfo: () => ({ ...opts.info, contractVersion: CONTRACT_VERSION }),
    getSnapshot: () => uiSnapshot(node),
    getEvents: (q) => {
      if (q.last === undefined) return node.events({ sinceSeq: q.sinceSeq, limit: MAX_EVENTS_PER_QUERY })
      const n = Math.min(q.last, MAX_EVENTS_PER_QUERY)
      return tail(node.events({ sinceSeq: q.sinceSeq, last: n } as EventsOpts), n)
    },
    join: async () => {
      await node.join()
      dirty = true
      return uiSnapshot(node)
    },
    leave: async () => {
      await node.leave()
      dirty = true
      return uiSnapshot(node)
    },
    exportLog: async ({ format }) => {
      const entries = readAll(node)
      const text = format === 'csv' ? exportCsv(entries) : exportJsonl(entries)
      const name = exportFileName(uiSnapshot(node).self.name, format)
      if (opts.deliverExport) return opts.deliverExport(format, text, entries.length, name)
      return { kind: 'download', filename: name, mime: format === 'csv' ? 'text/csv' : 'application/x-ndjson', text, count: entries.length }
    },
    openLog: async () => {
      if (!opts.openLog) throw new HostError('this host cannot open files itself: choose the file in the page')
      return opts.openLog()
    },
    getSettings: () => opts.getSettings(),
    saveSettings: async (s) => {
      if (!opts.saveSettings) throw new HostError(opts.info.settingsNote ?? 'settings are read-only here')
      return opts.saveSettings(s)
    },
  }

  function tick(): void {
    elapsedMs += batchMs
    const due = dirty || elapsedMs - lastSnapshotAt >= refreshMs
    if (!due && pending.length === 0) return
    let snapshot: UiSnapshot | undefined
    if (due) {
      try {
        snapshot = uiSnapshot(node)
      } catch {
        snapshot = undefined // stopped while we were batching: send the events alone
      }
      lastSnapshotAt = elapsedMs
      dirty = false
      // A periodic refresh that changed nothing is not sent.
      if (snapshot) {
        const json = JSON.stringify({ ...snapshot, at: '' })
        if (json === lastSnapshotJson) snapshot = undefined
        else lastSnapshotJson = json
      }
    }
    if (!snapshot && pending.length === 0) return
    const events = pending
    pending = []
    const push: Push = { type: 'update', payload: { batch: ++batchNo, events, droppedEvents: dropped, ...(snapshot ? { snapshot } : {}) } }
    dropped = 0
    for (const fn of subscribers) {
      try {
        fn(push)
      } catch {
        /* one broken subscriber must not stop the others */
      }
    }
  }

  function startBatching(): void {
    node.on('*', onAny)
    let fromSeq = 0
    try {
      const last = tail(node.events({ last: 1 } as EventsOpts), 1)
      fromSeq = last.length > 0 ? last[last.length - 1].seq : 0
    } catch {
      fromSeq = 0
    }
    unfollow = node.followLog(fromSeq, (e) => {
      if (pending.length >= MAX_EVENTS_PER_BATCH) {
        dropped++
        return
      }
      pending.push(e)
    })
    dirty = true
    lastSnapshotJson = ''
    timer = setI(tick, batchMs)
    ;(timer as { unref?: () => void }).unref?.()
  }

  function stopBatching(): void {
    if (timer !== undefined) clearI(timer)
    timer = undefined
    unfollow?.()
    unfollow = undefined
    node.off('*', onAny)
    pending = []
  }

  return {
    handlers,
    async call(name, rawArg) {
      const v = validateCommand(name, rawArg)
      const fn = handlers[v.name as CommandName] as (...a: unknown[]) => unknown
      return await fn(...v.args)
    },
    subscribe(fn) {
      subscribers.add(fn)
      if (subscribers.size === 1) startBatching()
      return () => {
        if (!subscribers.delete(fn)) return
        if (subscribers.size === 0) stopBatching()
      }
    },
    notice(level, message) {
      const push: Push = { type: 'notice', payload: { level, message } }
      for (const fn of subscribers) fn(push)
    },
    close() {
      subscribers.clear()
      stopBatching()
    },
  }
}

/**
 * RollcallNode.events() hands its options to EventLog.read(), which also takes `last` (the newest
 * n entries); the public signature does not list it yet, hence the cast, and the slice as a guard.
 */
type EventsOpts = { sinceSeq?: number; limit?: number }
function tail<T>(xs: T[], n: number): T[] {
  return xs.length > n ? xs.slice(xs.length - n) : xs
}

/** Every entry of the node's event log (paged, so rotated files are included). */
function readAll(node: HostedNode): LogEntry[] {
  const out: LogEntry[] = []
  let since = 0
  for (;;) {
    const page = node.events({ sinceSeq: since, limit: 100_000 })
    if (page.length === 0) break
    out.push(...page)
    since = page[page.length - 1].seq
    if (page.length < 100_000) break
  }
  return out
}
