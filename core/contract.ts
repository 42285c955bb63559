// The one contract between a host (the Electron main process, or the agent's browser dashboard)
// and the renderer: every command the renderer may call (with argument and result types), every
// event the host pushes, the wire envelopes of the dashboard's WebSocket, and validators for
// command arguments, which always come from an untrusted page. The Electron main handlers, the
// preload API, the dashboard bridge and the renderer's API type all derive from this file
// (GitHub Desktop's ipc-shared.ts). It imports only types, so the renderer can bundle it and the
// core never depends on electron/ or renderer/.

import type { Member } from './node/node.js'
import type { LogEntry } from './node/eventlog.js'
import type { SelfState } from './protocol/types.js'

export type { Member, LogEntry, SelfState }

/** Bumped when a command or push changes incompatibly; the renderer shows a mismatch in words. */
export const CONTRACT_VERSION = 1

// ---------------------------------------------------------------------------------------------
// Data carried by commands and pushes

/** Where the renderer runs. */
export type HostKind = 'electron' | 'dashboard'

export interface HostInfo {
  kind: HostKind
  contractVersion: number
  version: string
  /** Settings can be saved (Electron). The dashboard shows the agent's flags read-only. */
  settingsEditable: boolean
  /** Why settings are read-only, or when saved settings take effect. */
  settingsNote?: string
  /** The host opens exported logs through its own file dialog (Electron); otherwise the page uses a file input. */
  hostOpensLogs: boolean
}

/** The local node and its view, as the renderer shows it. */
export interface UiSnapshot {
  self: Member
  group: string
  state: SelfState
  /** Order-independent digest of our view (id, incarnation, up/failed/left of every member). */
  digest: string
  members: Member[]
  /** Lifeguard local health of this node (0 = healthy). */
  health: number
  /** Wall-clock time of the snapshot (ISO 8601). */
  at: string
  /**
   * View digests other members reported, by member id, when the host knows them. The public core
   * API does not expose peers' digests yet, so hosts leave this out and the renderer says that the
   * agreement indicator shows the local view only.
   */
  peerDigests?: Record<string, string>
}

export type ExportFormat = 'jsonl' | 'csv'

export type ExportResult =
  /** The dashboard: the page turns the text into a download. */
  | { kind: 'download'; filename: string; mime: string; text: string; count: number }
  /** Electron: written through a save dialog. */
  | { kind: 'saved'; path: string; count: number }
  | { kind: 'canceled' }

export type OpenLogResult = { kind: 'opened'; name: string; text: string } | { kind: 'canceled' }

/** What the desktop app persists. Bootstrap addresses and the interface apply at the next start. */
export interface Settings {
  /** Display name, 1..64 characters. */
  name: string
  /** Group name: [A-Za-z0-9._-], 1..64. */
  group: string
  /** Path of a libp2p swarm key file, or '' for none. */
  groupKeyFile: string
  /** Multiaddrs of known members ('/ip4/…/tcp/…/p2p/…'), for networks that block multicast. */
  bootstrap: string[]
  /** Network interface for mDNS discovery; '' = every interface; 'off' = no mDNS. */
  mdnsInterface: string
  /** Join the group as soon as the app starts. */
  autoJoin: boolean
}

export interface EventsQuery {
  /** Only entries with a larger seq. */
  sinceSeq?: number
  /** Only the newest this many (at most MAX_EVENTS_PER_QUERY). */
  last?: number
}

// ---------------------------------------------------------------------------------------------
// Commands: renderer → host. Each takes at most one argument and answers with a promise.

export interface Commands {
  getInfo(): HostInfo
  getSnapshot(): UiSnapshot
  getEvents(query: EventsQuery): LogEntry[]
  /** Join the group; resolves when joined. Safe to repeat. */
  join(): UiSnapshot
  /** Leave gracefully; resolves when left. Safe to repeat. */
  leave(): UiSnapshot
  exportLog(args: { format: ExportFormat }): ExportResult
  /** Electron only (hostOpensLogs): pick an exported log through a dialog and return its text. */
  openLog(): OpenLogResult
  getSettings(): Settings
  saveSettings(settings: Settings): Settings
}

export type CommandName = keyof Commands
export type ArgOf<K extends CommandName> = Parameters<Commands[K]>
export type ResultOf<K extends CommandName> = ReturnType<Commands[K]>

/** Runtime list of commands: the preload and the bridges build their tables from it. */
export const COMMAND_NAMES = [
  'getInfo', 'getSnapshot', 'getEvents', 'join', 'leave', 'exportLog', 'openLog', 'getSettings', 'saveSettings',
] as const satisfies readonly CommandName[]

// A compile-time check that COMMAND_NAMES lists every command.
type Missing = Exclude<CommandName, (typeof COMMAND_NAMES)[number]>
const _allListed: Missing extends never ? true : Missing = true
void _allListed

// ---------------------------------------------------------------------------------------------
// Pushes: host → renderer

/** Everything that changed since the last batch (pushed at most every BATCH_INTERVAL_MS). */
export interface UpdateBatch {
  /** Batch counter, from 1; a gap means the renderer missed batches and should refetch. */
  batch: number
  /** The current view, when it changed (or at least every SNAPSHOT_REFRESH_MS, for RTTs and probes). */
  snapshot?: UiSnapshot
  /** New event-log entries, oldest first. */
  events: LogEntry[]
  /** Entries left out because more than MAX_EVENTS_PER_BATCH arrived in one batch. */
  droppedEvents: number
}

export interface Notice {
  level: 'info' | 'warn'
  message: string
}

export interface Pushes {
  update: UpdateBatch
  notice: Notice
}

export type PushName = keyof Pushes
export type Push = { [K in PushName]: { type: K; payload: Pushes[K] } }[PushName]

/** The renderer's API object: what window.rollcall (preload) and the WebSocket client both provide. */
export type RollcallApi = {
  [K in CommandName]: (...args: ArgOf<K>) => Promise<Awaited<ResultOf<K>>>
} & {
  /** Subscribe to pushes; returns the unsubscribe function. */
  onPush(fn: (push: Push) => void): () => void
}

/** What a host implements: the same commands, each given its validated argument. */
export type CommandHandlers = {
  [K in CommandName]: (...args: ArgOf<K>) => ResultOf<K> | Promise<Awaited<ResultOf<K>>>
}

// ---------------------------------------------------------------------------------------------
// Transport details shared by both bridges

/** Electron IPC channel of a command. */
export const commandChannel = (name: CommandName): string => `rollcall:cmd:${name}`
/** Electron IPC channel of pushes. */
export const PUSH_CHANNEL = 'rollcall:push'

/** Pushes are coalesced into one batch per this interval. */
export const BATCH_INTERVAL_MS = 100
/** A fresh snapshot is sent at least this often while something may have changed silently (RTTs). */
export const SNAPSHOT_REFRESH_MS = 1000
/** Events in one batch; more in 100 ms means a storm, and the renderer refetches instead. */
export const MAX_EVENTS_PER_BATCH = 5000
/** Entries one getEvents call returns. */
export const MAX_EVENTS_PER_QUERY = 20_000
/** Largest message the dashboard accepts from a page (commands are small; settings are the largest). */
export const MAX_INBOUND_MESSAGE_BYTES = 64 * 1024
/** Dashboard clients at once: a lab machine has one or two viewers; more is a leak or an attack. */
export const MAX_DASHBOARD_CLIENTS = 16

/** Page → dashboard. `token` repeats the URL token on every message. */
export interface WireRequest {
  id: number
  cmd: string
  arg?: unknown
  token: string
}

export type WireResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string } }

export interface WirePush {
  push: Push
}

// ---------------------------------------------------------------------------------------------
// Validators: every argument that crosses from a page is checked here before a handler sees it.

/** A command argument or envelope that does not match the contract. */
export class ContractError extends Error {
  override name = 'ContractError'
}

export const isCommandName = (v: unknown): v is CommandName =>
  typeof v === 'string' && (COMMAND_NAMES as readonly string[]).includes(v)

const GROUP_RE = /^[A-Za-z0-9._-]{1,64}$/
const IFACE_RE = /^[A-Za-z0-9._:@-]{0,64}$/
const MAX_BOOTSTRAP = 32
const MAX_ADDR_CHARS = 256
const MAX_PATH_CHARS = 4096

function plainObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ContractError(`${what} must be an object`)
  return v as Record<string, unknown>
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new ContractError(`${what}: unknown field ${JSON.stringify(k.slice(0, 40))}`)
}

function noArg(v: unknown, name: string): [] {
  if (v !== undefined && v !== null) throw new ContractError(`${name} takes no argument`)
  return []
}

function optionalCount(o: Record<string, unknown>, key: string, max: number): number | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new ContractError(`${key} must be an integer in 0..${max}`)
  return v
}

function str(o: Record<string, unknown>, key: string, maxChars: number): string {
  const v = o[key]
  if (typeof v !== 'string') throw new ContractError(`${key} must be a string`)
  if (v.length > maxChars) throw new ContractError(`${key} is longer than ${maxChars} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new ContractError(`${key} contains control characters`)
  return v
}

/** Checks a Settings object from a page; the result is a fresh object with only known fields. */
export function validateSettings(v: unknown): Settings {
  const o = plainObject(v, 'settings')
  onlyKeys(o, ['name', 'group', 'groupKeyFile', 'bootstrap', 'mdnsInterface', 'autoJoin'], 'settings')
  const name = str(o, 'name', 64).trim()
  if (name.length === 0) throw new ContractError('name must not be empty')
  const group = str(o, 'group', 64)
  if (!GROUP_RE.test(group)) throw new ContractError('group must be 1..64 letters, digits, ".", "_" or "-"')
  const groupKeyFile = str(o, 'groupKeyFile', MAX_PATH_CHARS)
  const mdnsInterface = str(o, 'mdnsInterface', 64)
  if (!IFACE_RE.test(mdnsInterface)) throw new ContractError('mdnsInterface must be an interface name such as eth0')
  if (!Array.isArray(o.bootstrap)) throw new ContractError('bootstrap must be a list of multiaddrs')
  if (o.bootstrap.length > MAX_BOOTSTRAP) throw new ContractError(`at most ${MAX_BOOTSTRAP} bootstrap addresses`)
  const bootstrap = o.bootstrap.map((a, i) => {
    if (typeof a !== 'string' || a.length === 0 || a.length > MAX_ADDR_CHARS || !a.startsWith('/') || /\s/.test(a)) {
      throw new ContractError(`bootstrap address ${i + 1} must be a multiaddr such as /ip4/10.0.0.7/tcp/4001/p2p/12D3Koo…`)
    }
    return a
  })
  if (typeof o.autoJoin !== 'boolean') throw new ContractError('autoJoin must be true or false')
  return { name, group, groupKeyFile, bootstrap, mdnsInterface, autoJoin: o.autoJoin }
}

/** One validator per command: takes the raw argument, returns the checked argument list. */
export const argValidators: { [K in CommandName]: (raw: unknown) => ArgOf<K> } = {
  getInfo: (v) => noArg(v, 'getInfo'),
  getSnapshot: (v) => noArg(v, 'getSnapshot'),
  join: (v) => noArg(v, 'join'),
  leave: (v) => noArg(v, 'leave'),
  openLog: (v) => noArg(v, 'openLog'),
  getSettings: (v) => noArg(v, 'getSettings'),
  getEvents: (v) => {
    const o = v === undefined ? {} : plainObject(v, 'getEvents query')
    onlyKeys(o, ['sinceSeq', 'last'], 'getEvents query')
    const q: EventsQuery = {}
    const sinceSeq = optionalCount(o, 'sinceSeq', Number.MAX_SAFE_INTEGER)
    const last = optionalCount(o, 'last', MAX_EVENTS_PER_QUERY)
    if (sinceSeq !== undefined) q.sinceSeq = sinceSeq
    if (last !== undefined) q.last = last
    return [q]
  },
  exportLog: (v) => {
    const o = plainObject(v, 'exportLog arguments')
    onlyKeys(o, ['format'], 'exportLog arguments')
    if (o.format !== 'jsonl' && o.format !== 'csv') throw new ContractError('format must be "jsonl" or "csv"')
    return [{ format: o.format }]
  },
  saveSettings: (v) => [validateSettings(v)],
}

/** Validates a command name and its raw argument together. Throws ContractError. */
export function validateCommand(name: unknown, raw: unknown): { name: CommandName; args: unknown[] } {
  if (!isCommandName(name)) throw new ContractError(`unknown command ${JSON.stringify(String(name).slice(0, 40))}`)
  return { name, args: argValidators[name](raw) as unknown[] }
}

/** Checks a WebSocket request envelope (not its argument: validateCommand does that). */
export function parseWireRequest(text: string): WireRequest {
  if (text.length > MAX_INBOUND_MESSAGE_BYTES) throw new ContractError('message too large')
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw new ContractError('message is not JSON')
  }
  const o = plainObject(v, 'message')
  onlyKeys(o, ['id', 'cmd', 'arg', 'token'], 'message')
  if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id) || o.id < 0) throw new ContractError('id must be a non-negative integer')
  if (typeof o.cmd !== 'string' || o.cmd.length > 64) throw new ContractError('cmd must be a command name')
  if (typeof o.token !== 'string' || o.token.length > 256) throw new ContractError('token missing')
  return { id: o.id, cmd: o.cmd, arg: o.arg, token: o.token }
}
