// The agent's data dir: where it lives by default, making sure it is a private writable
// directory, and the small state file that must survive restarts (our own incarnation).

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { LIMITS } from '../protocol/config.js'

/** The data dir is missing, not a directory, not writable, or holds a corrupt file. */
export class DataDirError extends Error {
  override name = 'DataDirError'
  constructor(
    message: string,
    /** The file or directory at fault. */
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export const STATE_FILE = 'state.json'
/** state.json holds a handful of fields; anything larger is not ours. */
const MAX_STATE_BYTES = 64 * 1024

/** What the agent persists across restarts. Other fields are kept as they are. */
export interface AgentState {
  /** Our own incarnation: persisted before we announce it, so a restart never reuses a lower one. */
  incarnation: number
  [field: string]: unknown
}

/**
 * The platform's per-user state directory for Rollcall:
 * Linux and other Unixes `$XDG_STATE_HOME/rollcall` (XDG Base Directory spec; falls back to
 * `~/.local/state/rollcall`), macOS `~/Library/Application Support/Rollcall`,
 * Windows `%LOCALAPPDATA%\Rollcall`.
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  homeDir: string = os.homedir(),
): string {
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA && path.win32.isAbsolute(env.LOCALAPPDATA) ? env.LOCALAPPDATA : path.win32.join(homeDir, 'AppData', 'Local')
    return path.win32.join(local, 'Rollcall')
  }
  if (platform === 'darwin') return path.posix.join(homeDir, 'Library', 'Application Support', 'Rollcall')
  // The XDG spec says relative values are invalid and must be ignored.
  const state = env.XDG_STATE_HOME && path.posix.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.posix.join(homeDir, '.local', 'state')
  return path.posix.join(state, 'rollcall')
}

/**
 * An absolute data dir: `dir` if given (a leading `~` is expanded, since `--data-dir=~/x`
 * reaches us unexpanded by the shell), else the platform default. Creates nothing.
 */
export function resolveDataDir(dir?: string): string {
  if (dir === undefined || dir === '') return defaultDataDir()
  if (dir === '~') return os.homedir()
  if (dir.startsWith('~/') || dir.startsWith('~\\')) return path.join(os.homedir(), dir.slice(2))
  return path.resolve(dir)
}

/**
 * Creates `dir` (and parents) owner-only (0700) if missing, then checks it is a directory we can
 * create files in. Throws DataDirError otherwise. Returns the absolute path. Safe to repeat.
 */
export function ensureDataDir(dir: string): string {
  const abs = path.resolve(dir)
  try {
    fs.mkdirSync(abs, { recursive: true, mode: 0o700 })
  } catch (err) {
    // EEXIST: something that is not a directory is in the way; the stat below says so.
    if (errCode(err) !== 'EEXIST') throw dataDirFsError(`cannot create data dir ${abs}`, abs, err)
  }
  let st: fs.Stats
  try {
    st = fs.statSync(abs)
  } catch (err) {
    throw dataDirFsError(`cannot access data dir ${abs}`, abs, err)
  }
  if (!st.isDirectory()) throw new DataDirError(`data dir ${abs} exists but is not a directory`, abs)
  // access(W_OK) is not enough: it says yes to root on a read-only mount. Create a file instead.
  const probe = path.join(abs, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    fs.closeSync(fs.openSync(probe, 'wx', 0o600))
  } catch (err) {
    throw dataDirFsError(`data dir ${abs} is not writable`, abs, err)
  }
  try {
    fs.unlinkSync(probe)
  } catch {
    // A leftover empty probe file is harmless.
  }
  return abs
}

/** Members state.json remembers (field `peers`) for the next start: at most this many. */
export const MAX_REMEMBERED_PEERS = 8
const MAX_PEER_ID_CHARS = 128

/** A member an earlier run knew alive, and where it listened. */
export interface RememberedPeer {
  id: string
  addrs: string[]
}

/**
 * The `peers` field of a saved state, checked: anything but a list of {id, addrs} is ignored, entry
 * by entry (at most MAX_REMEMBERED_PEERS, LIMITS.addrsPerMember addrs of LIMITS.addrChars each).
 * The transport checks the peer ids and multiaddrs themselves before anything is dialed.
 */
export function rememberedPeers(value: unknown, selfId?: string): RememberedPeer[] {
  if (!Array.isArray(value)) return []
  const out: RememberedPeer[] = []
  for (const p of value.slice(0, MAX_REMEMBERED_PEERS)) {
    if (typeof p !== 'object' || p === null) continue
    const { id, addrs } = p as Record<string, unknown>
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_PEER_ID_CHARS || id === selfId || !Array.isArray(addrs)) continue
    const ok = addrs.filter((a): a is string => typeof a === 'string' && a.length > 0 && a.length <= LIMITS.addrChars).slice(0, LIMITS.addrsPerMember)
    if (ok.length > 0 && !out.some((q) => q.id === id)) out.push({ id, addrs: ok })
  }
  return out
}

/** The saved state, or undefined when none was saved yet. A corrupt file throws DataDirError. */
export function readState(dir: string): AgentState | undefined {
  const file = path.join(dir, STATE_FILE)
  let text: string
  try {
    const st = fs.statSync(file)
    if (!st.isFile()) throw new DataDirError(`state file ${file} is not a regular file`, file)
    if (st.size > MAX_STATE_BYTES) throw new DataDirError(`state file ${file} is corrupt: ${st.size} bytes, at most ${MAX_STATE_BYTES} expected`, file)
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof DataDirError) throw err
    if (errCode(err) === 'ENOENT') return undefined
    throw dataDirFsError(`cannot read state file ${file}`, file, err)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new DataDirError(`state file ${file} is corrupt (invalid JSON); move it away to start with a fresh incarnation`, file, { cause: err })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DataDirError(`state file ${file} is corrupt: expected a JSON object`, file)
  }
  const state = parsed as Record<string, unknown>
  if (!isIncarnation(state.incarnation)) {
    throw new DataDirError(`state file ${file} is corrupt: incarnation must be an integer ≥ 0, got ${JSON.stringify(state.incarnation)}`, file)
  }
  return state as AgentState
}

/**
 * Replaces state.json atomically (temp file, fsync, rename, then fsync the dir) with mode 0600,
 * so a crash leaves either the old or the new state, never half of one. Throws DataDirError.
 */
export function writeState(dir: string, state: AgentState): void {
  const file = path.join(dir, STATE_FILE)
  if (!isIncarnation(state.incarnation)) {
    throw new TypeError(`writeState: incarnation must be an integer ≥ 0, got ${JSON.stringify(state.incarnation)}`)
  }
  const text = JSON.stringify(state, null, 2) + '\n'
  if (Buffer.byteLength(text) > MAX_STATE_BYTES) throw new TypeError(`writeState: state is larger than ${MAX_STATE_BYTES} bytes`)
  const tmp = path.join(dir, `${STATE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600)
    try {
      fs.writeFileSync(fd, text)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, file)
  } catch (err) {
    try {
      fs.unlinkSync(tmp)
    } catch {
      // Already gone or never created.
    }
    throw dataDirFsError(`cannot write state file ${file}`, file, err)
  }
  fsyncDir(dir)
}

/** Makes a rename durable. Best effort: Windows cannot open directories for fsync. */
export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return
  try {
    const fd = fs.openSync(dir, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself already happened.
  }
}

function isIncarnation(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined
}

const FS_HINTS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a parent path is not a directory',
  EEXIST: 'a file is in the way',
}

function dataDirFsError(what: string, at: string, err: unknown): DataDirError {
  const code = errCode(err)
  const hint = code ? `${code}${FS_HINTS[code] ? `, ${FS_HINTS[code]}` : ''}` : String(err)
  return new DataDirError(`${what} (${hint}); choose another with --data-dir`, at, { cause: err })
}
