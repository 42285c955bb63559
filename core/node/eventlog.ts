// Append-only membership event log in the data dir, as JSON Lines with size-based rotation.
//
// Crash safety rests on one rule: each entry is written with a single write() of a whole line
// (O_APPEND), so a SIGKILL leaves at most one torn line, the last one. open() cuts it off;
// readers skip any line that does not parse instead of failing.
// Write errors (disk full, read-only remount) never reach the caller: entries wait in a bounded
// memory buffer and are retried, because losing the log must not take the agent down.
// Only the agent (which holds agent.lock) writes; other processes read with readEventLogFiles().

import fs from 'node:fs'
import path from 'node:path'
import type { MembershipEvent } from '../protocol/types.js'
import { ensureDataDir, errCode } from './datadir.js'

export interface LogEntry {
  /** 1, 2, 3… across all files, without gaps except for entries dropped while the disk failed. */
  seq: number
  /** Wall-clock time (ISO 8601) when the entry was logged. */
  ts: string
  type: string
  id: string
  name: string
  from: string | null
  to: string
  incarnation: number
  evidence?: unknown
  digest?: string
}

export type LogEntryInput = Omit<LogEntry, 'seq' | 'ts'> & { ts?: string }

export const CURRENT_FILE = 'events.jsonl'
/** 8 MiB × 5 files keeps about 40 MiB, on the order of 150,000 events: weeks of a busy lab. */
export const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
export const DEFAULT_MAX_FILES = 5
/** Below this a few large-evidence entries would rotate on every append. */
export const MIN_MAX_FILE_BYTES = 16 * 1024
/** Largest line written; evidence is bounded by LIMITS, so only a bug or a hostile peer gets near it. */
export const MAX_LINE_BYTES = 64 * 1024
/** Entries kept in memory while the disk refuses writes (about 3 MB); the oldest are dropped beyond. */
export const DEFAULT_MAX_BUFFERED_ENTRIES = 10_000
/**
 * Entries returned by one read; page further with sinceSeq. Above what the default files hold
 * (40 MiB at ≥ 150 bytes per line ≈ 280,000), so an unpaged read gets a default-size log whole,
 * while a log configured far larger cannot take unbounded memory.
 */
export const MAX_READ_ENTRIES = 1_000_000
/** In-process followers; each is a callback per entry, so a leak would slow every append. */
export const MAX_FOLLOWERS = 64
/** open() looks for the last complete entry in this much of the file's tail before scanning it all. */
const RECOVERY_TAIL_BYTES = 4 * MAX_LINE_BYTES
const READ_CHUNK_BYTES = 64 * 1024
/** Fields longer than this are cut when a line would exceed MAX_LINE_BYTES even without evidence. */
const CLIPPED_FIELD_CHARS = 256
const NEWLINE = 0x0a

/** The file operations the writer uses; tests pass failing ones to simulate a full disk. */
export interface EventLogFs {
  openSync(file: string, flags: string, mode?: number): number
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number): number
  fstatSync(fd: number): { size: number; isFile(): boolean }
  ftruncateSync(fd: number, lengthBytes: number): void
  fsyncSync(fd: number): void
  closeSync(fd: number): void
  renameSync(from: string, to: string): void
  unlinkSync(file: string): void
}

export const nodeEventLogFs: EventLogFs = {
  openSync: (file, flags, mode) => fs.openSync(file, flags, mode),
  writeSync: (fd, buf, offset, length) => fs.writeSync(fd, buf, offset, length),
  fstatSync: (fd) => fs.fstatSync(fd),
  ftruncateSync: (fd, lengthBytes) => fs.ftruncateSync(fd, lengthBytes),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (file) => fs.unlinkSync(file),
}

export interface EventLogOptions {
  /** Rotate when the current file would exceed this. Default 8 MiB, at least 16 KiB. */
  maxFileBytes?: number
  /** Files kept, the current one included; total size ≤ maxFiles × maxFileBytes. Default 5. */
  maxFiles?: number
  /** Entries buffered in memory while writes fail. Default 10,000. */
  maxBufferedEntries?: number
  /** Called once when writes start failing (again after they recovered), and when a follower throws. */
  onError?: (err: Error) => void
  /** Wall clock for `ts`, in ms since the epoch. */
  nowMs?: () => number
  fs?: EventLogFs
}

export class EventLogClosedError extends Error {
  override name = 'EventLogClosedError'
}

export class TooManyFollowersError extends Error {
  override name = 'TooManyFollowersError'
}

interface Pending {
  entry: LogEntry
  bytes: Buffer
}

export class EventLog {
  readonly dir: string
  readonly maxFileBytes: number
  readonly maxFiles: number
  /** Bytes of a torn last line removed by open() (0 when the log was closed cleanly). */
  readonly recoveredTornBytes: number

  private readonly maxBufferedEntries: number
  private readonly onError: ((err: Error) => void) | undefined
  private readonly nowMs: () => number
  private readonly fs: EventLogFs
  private fd = -1
  private currentBytes = 0
  /** A failed write may have left part of a line at the end of the current file. */
  private tornTail = false
  private seq: number
  private readonly pending: Pending[] = []
  /** True between a write failure and the next successful flush: onError fires once per episode. */
  private failing = false
  private closed = false
  private lastWriteError: Error | undefined
  private dropped = 0
  private readonly followers = new Set<{ afterSeq: number; onEntry: (entry: LogEntry) => void }>()

  private constructor(dir: string, opts: EventLogOptions) {
    this.dir = dir
    this.maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES
    this.maxFiles = opts.maxFiles ?? DEFAULT_MAX_FILES
    this.maxBufferedEntries = opts.maxBufferedEntries ?? DEFAULT_MAX_BUFFERED_ENTRIES
    this.onError = opts.onError
    this.nowMs = opts.nowMs ?? Date.now
    this.fs = opts.fs ?? nodeEventLogFs
    if (!Number.isSafeInteger(this.maxFileBytes) || this.maxFileBytes < MIN_MAX_FILE_BYTES) {
      throw new RangeError(`EventLog: maxFileBytes must be an integer ≥ ${MIN_MAX_FILE_BYTES}, got ${opts.maxFileBytes}`)
    }
    if (!Number.isSafeInteger(this.maxFiles) || this.maxFiles < 1 || this.maxFiles > 1000) {
      throw new RangeError(`EventLog: maxFiles must be an integer in 1..1000, got ${opts.maxFiles}`)
    }
    if (!Number.isSafeInteger(this.maxBufferedEntries) || this.maxBufferedEntries < 1) {
      throw new RangeError(`EventLog: maxBufferedEntries must be an integer ≥ 1, got ${opts.maxBufferedEntries}`)
    }
    this.recoveredTornBytes = repairTornTail(path.join(dir, CURRENT_FILE))
    this.seq = lastSeqInDir(dir)
    removeExcessFiles(dir, this.maxFiles)
    try {
      this.openCurrent()
    } catch (err) {
      // Not fatal: appends buffer and retry, like any other write error.
      this.noteError(err)
    }
  }

  /**
   * Opens (creating if needed) the log in `dir`, repairing a torn last line left by a crash.
   * Throws DataDirError if `dir` cannot be created or is not a writable directory.
   */
  static open(dir: string, opts: EventLogOptions = {}): EventLog {
    return new EventLog(ensureDataDir(dir), opts)
  }

  /** Sequence number of the newest entry appended (or recovered on open); 0 for an empty log. */
  get lastSeq(): number {
    return this.seq
  }

  /** The most recent write error, kept after recovery for status displays. */
  get lastError(): Error | undefined {
    return this.lastWriteError
  }

  /** Entries lost because the buffer was full while writes failed, or still unwritten at close (gaps in seq). */
  get droppedCount(): number {
    return this.dropped
  }

  /** Entries waiting in memory for the disk to accept them. */
  get pendingCount(): number {
    return this.pending.length
  }

  /**
   * Logs one entry and returns it with its seq. Never throws on I/O errors: a failed write is
   * buffered (see lastError, pendingCount, droppedCount) and retried on the next append.
   */
  append(input: LogEntryInput): LogEntry {
    if (this.closed) throw new EventLogClosedError(`event log in ${this.dir} is closed`)
    const entry = normalizeEntry(input, this.seq + 1, input.ts ?? new Date(this.nowMs()).toISOString())
    const bytes = encodeLine(entry, Math.min(MAX_LINE_BYTES, this.maxFileBytes))
    this.seq = entry.seq
    this.pending.push({ entry, bytes })
    // Trim only after trying to write, so a disk that just recovered loses nothing.
    if (!this.flush() && this.pending.length > this.maxBufferedEntries) {
      this.pending.shift()
      this.dropped++
    }
    this.notify(entry)
    return entry
  }

  /** Writes buffered entries; true when none remain. append() calls it; a timer may too. */
  flush(): boolean {
    let written = 0
    try {
      for (const p of this.pending) {
        this.writeLine(p.bytes)
        written++
      }
    } catch (err) {
      this.noteError(err)
    }
    if (written > 0) this.pending.splice(0, written)
    if (this.pending.length === 0) this.failing = false
    return this.pending.length === 0
  }

  /**
   * Entries oldest first, from the rotated files, the current file and the memory buffer.
   * `sinceSeq`: only entries with a greater seq. `limit`: at most this many, the oldest of those
   * (page on with sinceSeq = last seq). `last`: only the newest this many (limit is then ignored).
   */
  read(opts: ReadOptions = {}): LogEntry[] {
    this.flush()
    const limit = clampLimit(opts.limit)
    const fromDisk = readEventLogFiles(this.dir, { sinceSeq: opts.sinceSeq, limit, last: opts.last }).entries
    if (this.pending.length === 0) return fromDisk
    // Entries still in memory follow everything on disk.
    let after = Math.max(opts.sinceSeq ?? 0, fromDisk.length > 0 ? fromDisk[fromDisk.length - 1].seq : 0)
    const out = fromDisk
    for (const p of this.pending) {
      if (p.entry.seq <= after) continue
      if (opts.last === undefined && out.length >= limit) break
      out.push(p.entry)
      after = p.entry.seq
    }
    return opts.last !== undefined && out.length > opts.last ? out.slice(out.length - opts.last) : out
  }

  /**
   * Calls onEntry for every entry with seq ≥ fromSeq: first those already logged (synchronously),
   * then each new one as it is appended. A fromSeq past the end (lastSeq + 1 or more, e.g.
   * Number.MAX_SAFE_INTEGER) means new entries only. Returns the unsubscribe function.
   */
  follow(fromSeq: number, onEntry: (entry: LogEntry) => void): () => void {
    if (this.closed) throw new EventLogClosedError(`event log in ${this.dir} is closed`)
    if (this.followers.size >= MAX_FOLLOWERS) throw new TooManyFollowersError(`event log: at most ${MAX_FOLLOWERS} followers`)
    let since = fromSeq - 1
    while (since < this.seq) {
      const page = this.read({ sinceSeq: since })
      for (const entry of page) onEntry(entry)
      if (page.length < MAX_READ_ENTRIES) break
      since = page[page.length - 1].seq
    }
    // Everything appended from here on is new to this follower.
    const follower = { afterSeq: this.seq, onEntry }
    this.followers.add(follower)
    return () => {
      this.followers.delete(follower)
    }
  }

  /** Flushes what it can, syncs and closes. Entries still unwritten are counted as dropped. Safe to repeat. */
  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.followers.clear()
    this.dropped += this.pending.length
    this.pending.length = 0
    this.closeFd()
  }

  private writeLine(bytes: Buffer): void {
    if (this.fd < 0) this.openCurrent()
    if (this.tornTail) {
      // A partial line would glue itself to the next entry. O_APPEND writes go to the new end,
      // so cutting back to the last whole line is enough.
      this.fs.ftruncateSync(this.fd, this.currentBytes)
      this.tornTail = false
    }
    if (this.currentBytes > 0 && this.currentBytes + bytes.length > this.maxFileBytes) this.rotate()
    let offset = 0
    try {
      // One write in practice; the loop only covers a short write, e.g. the disk filling mid-line.
      while (offset < bytes.length) {
        const n = this.fs.writeSync(this.fd, bytes, offset, bytes.length - offset)
        if (n <= 0) throw new Error(`event log: write returned ${n}`)
        offset += n
      }
    } catch (err) {
      // Even a write that reports failure may have left bytes behind; cutting back is harmless.
      this.tornTail = true
      throw err
    }
    this.currentBytes += bytes.length
  }

  private openCurrent(): void {
    const file = path.join(this.dir, CURRENT_FILE)
    // A partial line from a failed write would glue itself to the next entry.
    if (this.tornTail) repairTornTail(file)
    const fd = this.fs.openSync(file, 'a', 0o600)
    try {
      const st = this.fs.fstatSync(fd)
      this.currentBytes = st.isFile() ? st.size : 0
    } catch (err) {
      this.fs.closeSync(fd)
      throw err
    }
    this.fd = fd
    this.tornTail = false
  }

  /** events.jsonl → events.1.jsonl → … → events.<maxFiles-1>.jsonl; the oldest is overwritten. */
  private rotate(): void {
    this.closeFd()
    const current = path.join(this.dir, CURRENT_FILE)
    if (this.maxFiles === 1) {
      unlinkIfExists(this.fs, current)
    } else {
      // Oldest first, so a crash part-way leaves files whose index order is still age order.
      for (let i = this.maxFiles - 1; i >= 1; i--) {
        const from = i === 1 ? current : path.join(this.dir, rotatedName(i - 1))
        try {
          this.fs.renameSync(from, path.join(this.dir, rotatedName(i)))
        } catch (err) {
          if (errCode(err) !== 'ENOENT') throw err
        }
      }
    }
    this.openCurrent()
  }

  private closeFd(): void {
    if (this.fd < 0) return
    const fd = this.fd
    this.fd = -1
    try {
      this.fs.fsyncSync(fd)
    } catch {
      // The data is in the page cache; fsync only adds power-loss safety.
    }
    try {
      this.fs.closeSync(fd)
    } catch {
      // Nothing more to do with this descriptor.
    }
  }

  private noteError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.lastWriteError = error
    if (this.failing) return
    this.failing = true
    this.onError?.(error)
  }

  private notify(entry: LogEntry): void {
    for (const f of this.followers) {
      if (entry.seq <= f.afterSeq) continue
      try {
        f.onEntry(entry)
      } catch (err) {
        // A broken follower must not break logging; drop it and say so.
        this.followers.delete(f)
        this.onError?.(err instanceof Error ? err : new Error(String(err)))
      }
    }
  }
}

export interface ReadOptions {
  sinceSeq?: number
  limit?: number
  last?: number
}

export interface EventLogFiles {
  /** Oldest first. */
  entries: LogEntry[]
  /** Lines that did not parse as entries: torn by a crash, garbled, or overlong. */
  skippedLines: number
  /** The files read, oldest first. */
  files: string[]
  /** More entries follow than `limit` allowed: read on with sinceSeq = the last entry's seq. */
  truncated: boolean
}

/**
 * Reads a log directory without opening it for writing (for the CLI, or while an agent writes).
 * Skips torn or garbled lines, counting them; a last line without its newline counts as torn.
 * Same options as EventLog.read().
 */
export function readEventLogFiles(dir: string, opts: ReadOptions = {}): EventLogFiles {
  const files = listLogFiles(dir)
  const sinceSeq = opts.sinceSeq ?? 0
  if (opts.last !== undefined) return readLast(files, sinceSeq, Math.max(0, Math.min(MAX_READ_ENTRIES, Math.floor(opts.last))))
  const limit = clampLimit(opts.limit)
  const entries: LogEntry[] = []
  let skippedLines = 0
  let truncated = false
  // Monotonic seq also drops duplicates when a rotation renames a file while we read.
  let prevSeq = 0
  for (let i = 0; i < files.length && !truncated; i++) {
    // Skip whole files that end at or before sinceSeq (a tail read instead of a full scan).
    if (sinceSeq > 0 && i < files.length - 1 && lastSeqInFile(files[i]) <= sinceSeq) continue
    scanLines(files[i], (text) => {
      const entry = text === null ? undefined : parseEntry(text)
      if (entry === undefined) {
        skippedLines++
        return true
      }
      if (entry.seq <= prevSeq) return true
      prevSeq = entry.seq
      if (entry.seq <= sinceSeq) return true
      if (entries.length >= limit) {
        truncated = true
        return false
      }
      entries.push(entry)
      return true
    })
  }
  return { entries, skippedLines, files, truncated }
}

/** The newest `last` entries: reads files newest first and stops once it has enough. */
function readLast(files: string[], sinceSeq: number, last: number): EventLogFiles {
  const parts: LogEntry[][] = []
  let have = 0
  let skippedLines = 0
  for (let i = files.length - 1; i >= 0 && have < last; i--) {
    let part: LogEntry[] = []
    scanLines(files[i], (text) => {
      const entry = text === null ? undefined : parseEntry(text)
      if (entry === undefined) skippedLines++
      else if (entry.seq > sinceSeq) part.push(entry)
      // Trim in batches: shifting one at a time would be quadratic.
      if (part.length > 2 * last) part = part.slice(part.length - last)
      return true
    })
    parts.unshift(part)
    have += part.length
  }
  const entries: LogEntry[] = []
  let prevSeq = 0
  for (const part of parts) {
    for (const entry of part) {
      if (entry.seq <= prevSeq) continue
      prevSeq = entry.seq
      entries.push(entry)
    }
  }
  return { entries: entries.length > last ? entries.slice(entries.length - last) : entries, skippedLines, files, truncated: false }
}

/** The entry for a protocol event. atMs is monotonic and meaningless after a restart, so ts replaces it. */
export function logEntryFromEvent(ev: MembershipEvent, wallClockMs: number = Date.now()): LogEntryInput {
  const input: LogEntryInput = {
    ts: new Date(wallClockMs).toISOString(),
    type: ev.type,
    id: ev.id,
    name: ev.name,
    from: ev.from,
    to: ev.to,
    incarnation: ev.incarnation,
  }
  if (ev.evidence !== undefined) input.evidence = ev.evidence
  if (ev.digest !== undefined) input.digest = ev.digest
  return input
}

// ---------------------------------------------------------------------------------------------
// Export

export function exportJsonl(entries: readonly LogEntry[]): string {
  return entries.map((e) => JSON.stringify(e) + '\n').join('')
}

export const CSV_HEADER = ['seq', 'ts', 'type', 'id', 'name', 'from', 'to', 'incarnation', 'evidence'] as const

/** RFC 4180 CSV (CRLF line ends), safe to open in a spreadsheet: see csvCell. */
export function exportCsv(entries: readonly LogEntry[]): string {
  const rows = [CSV_HEADER.join(',')]
  for (const e of entries) {
    rows.push(
      [
        String(e.seq),
        csvCell(e.ts),
        csvCell(e.type),
        csvCell(e.id),
        csvCell(e.name),
        csvCell(e.from ?? ''),
        csvCell(e.to),
        String(e.incarnation),
        csvCell(e.evidence === undefined ? '' : JSON.stringify(e.evidence)),
      ].join(','),
    )
  }
  return rows.join('\r\n') + '\r\n'
}

/**
 * Member names come from peers, so a cell starting with = + - @ (or tab, CR) is prefixed with '
 * to stop spreadsheets from running it as a formula (OWASP "CSV Injection"); then quoted if needed.
 */
export function csvCell(value: string): string {
  let v = value
  if (/^[=+\-@\t\r]/.test(v)) v = `'${v}`
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
}

// ---------------------------------------------------------------------------------------------
// Files and lines

function rotatedName(index: number): string {
  return `events.${index}.jsonl`
}

const LOG_FILE_RE = /^events(?:\.([1-9]\d{0,3}))?\.jsonl$/

/** Log files oldest first: highest rotation index first, the current file last. */
function listLogFiles(dir: string): string[] {
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch (err) {
    if (errCode(err) === 'ENOENT') return []
    throw err
  }
  const found: { index: number; file: string }[] = []
  for (const name of names) {
    const m = LOG_FILE_RE.exec(name)
    if (m) found.push({ index: m[1] === undefined ? 0 : Number(m[1]), file: path.join(dir, name) })
  }
  found.sort((a, b) => b.index - a.index)
  return found.map((f) => f.file)
}

function removeExcessFiles(dir: string, maxFiles: number): void {
  for (const file of listLogFiles(dir)) {
    const m = LOG_FILE_RE.exec(path.basename(file))
    if (m?.[1] !== undefined && Number(m[1]) >= maxFiles) {
      try {
        fs.unlinkSync(file)
      } catch {
        // Best effort: the bound is restored on a later open.
      }
    }
  }
}

/**
 * Calls onLine for each line (null for an overlong line) and for a final line without its newline
 * (null: a torn write). Streams in fixed chunks, so memory stays bounded whatever the file size.
 * onLine returns false to stop. A file that vanished (rotated away) reads as empty.
 */
function scanLines(file: string, onLine: (text: string | null) => boolean): void {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    if (errCode(err) === 'ENOENT') return
    throw err
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return
    const chunk = Buffer.alloc(READ_CHUNK_BYTES)
    let carry: Buffer[] = []
    let carryBytes = 0
    let overlong = false
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null)
      if (n === 0) break
      let start = 0
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, start)
        if (nl < 0 || nl >= n) break
        let text: string | null
        if (overlong) text = null
        else if (carryBytes === 0) text = chunk.toString('utf8', start, nl)
        else text = Buffer.concat([...carry, chunk.subarray(start, nl)]).toString('utf8')
        carry = []
        carryBytes = 0
        overlong = false
        start = nl + 1
        if (!onLine(text)) return
      }
      if (start < n && !overlong) {
        carryBytes += n - start
        if (carryBytes > MAX_LINE_BYTES) {
          overlong = true
          carry = []
          carryBytes = 0
        } else {
          carry.push(Buffer.from(chunk.subarray(start, n)))
        }
      }
    }
    if (carryBytes > 0 || overlong) onLine(null)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Cuts a torn last line (no trailing newline) off the current file so the next append starts on
 * a line of its own. Returns the bytes removed.
 */
function repairTornTail(file: string): number {
  let fd: number
  try {
    fd = fs.openSync(file, 'r+')
  } catch (err) {
    if (errCode(err) === 'ENOENT') return 0
    throw err
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile() || st.size === 0) return 0
    const windowBytes = Math.min(st.size, RECOVERY_TAIL_BYTES)
    const buf = Buffer.alloc(windowBytes)
    const n = fs.readSync(fd, buf, 0, windowBytes, st.size - windowBytes)
    if (n !== windowBytes) return 0 // changed under us; leave it to the readers' skipping
    if (buf[n - 1] === NEWLINE) return 0
    const nl = buf.lastIndexOf(NEWLINE)
    if (nl < 0 && windowBytes < st.size) {
      // No line start in reach (garbage, not our torn write): end the line instead of guessing.
      fs.writeSync(fd, '\n', st.size)
      return 0
    }
    const keepBytes = st.size - windowBytes + nl + 1
    fs.ftruncateSync(fd, keepBytes)
    fs.fsyncSync(fd)
    return st.size - keepBytes
  } finally {
    fs.closeSync(fd)
  }
}

/** Seq of the newest valid entry: from the current file, else the newest rotated file that has one. */
function lastSeqInDir(dir: string): number {
  const files = listLogFiles(dir)
  for (let i = files.length - 1; i >= 0; i--) {
    const seq = lastSeqInFile(files[i])
    if (seq > 0) return seq
  }
  return 0
}

function lastSeqInFile(file: string): number {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    if (errCode(err) === 'ENOENT') return 0
    throw err
  }
  let size: number
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) return 0
    size = st.size
    const windowBytes = Math.min(size, RECOVERY_TAIL_BYTES)
    const buf = Buffer.alloc(windowBytes)
    const n = fs.readSync(fd, buf, 0, windowBytes, size - windowBytes)
    const lines = buf.toString('utf8', 0, n).split('\n')
    // The first piece may be the end of a line that started before the window; the last piece
    // is '' after a final newline, or a torn line.
    const first = windowBytes < size ? 1 : 0
    for (let i = lines.length - 2; i >= first; i--) {
      const entry = parseEntry(lines[i])
      if (entry) return entry.seq
    }
    if (windowBytes === size) return 0
  } finally {
    fs.closeSync(fd)
  }
  // The tail held no valid entry (a garbled stretch): scan the whole file.
  let seq = 0
  scanLines(file, (text) => {
    const entry = text === null ? undefined : parseEntry(text)
    if (entry && entry.seq > seq) seq = entry.seq
    return true
  })
  return seq
}

function unlinkIfExists(fsx: EventLogFs, file: string): void {
  try {
    fsx.unlinkSync(file)
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err
  }
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_READ_ENTRIES
  return Math.max(0, Math.min(MAX_READ_ENTRIES, Math.floor(limit)))
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Copies only the known fields, in a fixed order, so stray properties never reach the file. */
function normalizeEntry(input: LogEntryInput, seq: number, ts: string): LogEntry {
  const entry: LogEntry = {
    seq,
    ts,
    type: input.type,
    id: input.id,
    name: input.name,
    from: input.from,
    to: input.to,
    incarnation: input.incarnation,
  }
  if (input.evidence !== undefined) entry.evidence = input.evidence
  if (input.digest !== undefined) entry.digest = input.digest
  return entry
}

/** One complete line. Oversized evidence is replaced by a marker, then long fields are cut. */
function encodeLine(entry: LogEntry, maxLineBytes: number): Buffer {
  let bytes = Buffer.from(safeStringify(entry) + '\n')
  if (bytes.length <= maxLineBytes) return bytes
  const slim: LogEntry = { ...entry }
  if (slim.evidence !== undefined) slim.evidence = { truncated: true, bytes: bytes.length }
  bytes = Buffer.from(safeStringify(slim) + '\n')
  if (bytes.length <= maxLineBytes) return bytes
  const clip = (s: string) => (s.length > CLIPPED_FIELD_CHARS ? s.slice(0, CLIPPED_FIELD_CHARS) : s)
  slim.type = clip(slim.type)
  slim.id = clip(slim.id)
  slim.name = clip(slim.name)
  slim.to = clip(slim.to)
  if (slim.from !== null) slim.from = clip(slim.from)
  if (slim.digest !== undefined) slim.digest = clip(slim.digest)
  return Buffer.from(safeStringify(slim) + '\n')
}

/** Evidence is the caller's object; a cycle or BigInt in it must not make append throw. */
function safeStringify(entry: LogEntry): string {
  try {
    return JSON.stringify(entry)
  } catch (err) {
    return JSON.stringify({ ...entry, evidence: { unserializable: String(err) } })
  }
}

/** A line's entry, or undefined if it is not a well-formed entry. */
export function parseEntry(text: string): LogEntry | undefined {
  if (text.length === 0 || text.charCodeAt(0) !== 0x7b /* { */) return undefined
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const e = v as Record<string, unknown>
  const ok =
    typeof e.seq === 'number' &&
    Number.isSafeInteger(e.seq) &&
    e.seq > 0 &&
    typeof e.ts === 'string' &&
    typeof e.type === 'string' &&
    typeof e.id === 'string' &&
    typeof e.name === 'string' &&
    (e.from === null || typeof e.from === 'string') &&
    typeof e.to === 'string' &&
    typeof e.incarnation === 'number' &&
    (e.digest === undefined || typeof e.digest === 'string')
  return ok ? (e as unknown as LogEntry) : undefined
}
