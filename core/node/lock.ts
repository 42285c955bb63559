// One agent per data dir: two agents sharing a dir would interleave the event log and race on
// the persisted incarnation. The lock is a file holding the owner's PID, created with O_EXCL.

import fs from 'node:fs'
import path from 'node:path'
import { errCode } from './datadir.js'

export const LOCK_FILE = 'agent.lock'
/** Takeover attempts when racing another starter for a stale lock; each one loses only to a live agent. */
const MAX_ACQUIRE_ATTEMPTS = 3
/** A lock file is a PID and a newline; more than this is not a lock file of ours. */
const MAX_LOCK_BYTES = 64

export class AgentRunningError extends Error {
  override name = 'AgentRunningError'
  constructor(
    readonly dir: string,
    readonly pid?: number,
  ) {
    super(`another rollcall agent${pid !== undefined ? ` (pid ${pid})` : ''} is already using ${dir}`)
  }
}

export interface AgentLock {
  readonly path: string
  readonly pid: number
  /** Removes the lock file if it is still ours. Safe to repeat. */
  release(): void
}

/**
 * Takes the data dir's agent lock, or throws AgentRunningError if a live process holds it.
 * A lock left by a dead process (crash, SIGKILL, reboot) is taken over.
 * Limitation: if the dead agent's PID was reused by an unrelated process, the lock looks live;
 * the message names the PID so the operator can check and delete agent.lock.
 */
export function acquireAgentLock(dir: string): AgentLock {
  const file = path.join(dir, LOCK_FILE)
  const pid = process.pid
  for (let attempt = 0; attempt < MAX_ACQUIRE_ATTEMPTS; attempt++) {
    try {
      createLockFile(file, `${pid}\n`)
      return lockHandle(file, pid)
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err
    }
    const content = readLock(file)
    if (content === undefined) continue // removed meanwhile: try again
    const holder = parsePid(content)
    if (holder !== undefined && isAlive(holder)) throw new AgentRunningError(dir, holder)
    removeStaleLock(file, content)
  }
  // Kept losing races to other starters; whoever won holds it now.
  throw new AgentRunningError(dir, parsePid(readLock(file) ?? ''))
}

/**
 * Writes the content to a private temp file and hard-links it into place: link() fails with EEXIST
 * like O_EXCL, and the lock never exists empty, so no starter mistakes a half-written lock for stale.
 */
function createLockFile(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, content, { mode: 0o644 })
  try {
    fs.linkSync(tmp, file)
  } catch (err) {
    const code = errCode(err)
    if (code === 'EEXIST') throw err
    // Filesystems without hard links (FAT, some network mounts): fall back to O_EXCL.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err
    fs.writeFileSync(file, content, { flag: 'wx', mode: 0o644 })
  } finally {
    fs.rmSync(tmp, { force: true })
  }
}

function lockHandle(file: string, pid: number): AgentLock {
  let released = false
  return {
    path: file,
    pid,
    release() {
      if (released) return
      released = true
      // Never remove a lock that a later agent took over (e.g. after we were thought dead).
      if (parsePid(readLock(file) ?? '') !== pid) return
      try {
        fs.unlinkSync(file)
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err
      }
    },
  }
}

/**
 * Moves the stale lock aside atomically, then checks that what we moved is what we judged stale:
 * if another starter replaced it in between, we put theirs back instead of deleting a live lock.
 */
function removeStaleLock(file: string, staleContent: string): void {
  const aside = `${file}.stale.${process.pid}`
  try {
    fs.renameSync(file, aside)
  } catch (err) {
    if (errCode(err) === 'ENOENT') return
    throw err
  }
  const moved = readLock(aside)
  if (moved !== undefined && moved !== staleContent) {
    try {
      fs.linkSync(aside, file) // fails if yet another lock appeared; then that one wins
    } catch {
      // Someone holds the lock now either way; the next attempt sees it.
    }
  }
  try {
    fs.unlinkSync(aside)
  } catch {
    // Already gone.
  }
}

function readLock(file: string): string | undefined {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined
    throw err
  }
  try {
    const buf = Buffer.alloc(MAX_LOCK_BYTES)
    const n = fs.readSync(fd, buf, 0, buf.length, 0)
    return buf.toString('utf8', 0, n)
  } finally {
    fs.closeSync(fd)
  }
}

function parsePid(content: string): number | undefined {
  const text = content.trim()
  if (!/^\d{1,10}$/.test(text)) return undefined
  const pid = Number(text)
  // pid 0 or negative would signal a process group in process.kill.
  return pid > 0 ? pid : undefined
}

/** Signal 0 checks existence without delivering anything. EPERM: it exists but is another user's. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errCode(err) === 'EPERM'
  }
}
