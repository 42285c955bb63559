import fs from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirError } from '../../core/node/datadir.js'
import {
  CURRENT_FILE,
  EventLog,
  EventLogClosedError,
  type EventLogFs,
  exportCsv,
  exportJsonl,
  type LogEntry,
  logEntryFromEvent,
  MAX_FOLLOWERS,
  nodeEventLogFs,
  parseEntry,
  readEventLogFiles,
  TooManyFollowersError,
} from '../../core/node/eventlog.js'
import type { MembershipEvent } from '../../core/protocol/types.js'
import { rawLines, sampleEntry, tempDir } from './helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

function expectContiguous(entries: LogEntry[]): void {
  for (let i = 1; i < entries.length; i++) expect(entries[i].seq).toBe(entries[i - 1].seq + 1)
}

function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}: simulated`), { code })
}

describe('EventLog.append/read', () => {
  it('round-trips entries with seq from 1 and an ISO timestamp', () => {
    const log = EventLog.open(dir, { nowMs: () => Date.UTC(2025, 0, 2, 3, 4, 5) })
    const a = log.append(sampleEntry(1))
    const b = log.append({ ...sampleEntry(2), from: null, evidence: undefined, digest: 'abc' })
    expect(a.seq).toBe(1)
    expect(b.seq).toBe(2)
    expect(a.ts).toBe('2025-01-02T03:04:05.000Z')
    expect(log.lastSeq).toBe(2)
    const read = log.read()
    expect(read).toEqual([a, b])
    expect(read[1]).not.toHaveProperty('evidence')
    log.close()
    expect(readEventLogFiles(dir).entries).toEqual([a, b])
  })

  it('writes only the known fields, one line each, file mode 0600', () => {
    const log = EventLog.open(dir)
    log.append({ ...sampleEntry(1), ts: '2025-01-01T00:00:00.000Z', atMs: 5, extra: 'x' } as never)
    log.close()
    const file = path.join(dir, CURRENT_FILE)
    const lines = rawLines(file)
    expect(lines).toHaveLength(2)
    expect(lines[1]).toBe('')
    expect(Object.keys(JSON.parse(lines[0]))).toEqual(['seq', 'ts', 'type', 'id', 'name', 'from', 'to', 'incarnation', 'evidence'])
    if (process.platform !== 'win32') expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  })

  it('continues the sequence after reopening', () => {
    let log = EventLog.open(dir)
    for (let i = 1; i <= 5; i++) log.append(sampleEntry(i))
    log.close()
    log = EventLog.open(dir)
    expect(log.lastSeq).toBe(5)
    expect(log.append(sampleEntry(6)).seq).toBe(6)
    log.close()
    const entries = readEventLogFiles(dir).entries
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('supports sinceSeq, limit and last', () => {
    const log = EventLog.open(dir)
    for (let i = 1; i <= 10; i++) log.append(sampleEntry(i))
    expect(log.read({ sinceSeq: 7 }).map((e) => e.seq)).toEqual([8, 9, 10])
    expect(log.read({ sinceSeq: 2, limit: 3 }).map((e) => e.seq)).toEqual([3, 4, 5])
    expect(log.read({ last: 2 }).map((e) => e.seq)).toEqual([9, 10])
    expect(log.read({ last: 0 })).toEqual([])
    expect(log.read({ limit: 0 })).toEqual([])
    log.close()
    expect(readEventLogFiles(dir, { limit: 4 })).toMatchObject({ truncated: true, entries: [{ seq: 1 }, { seq: 2 }, { seq: 3 }, { seq: 4 }] })
    expect(readEventLogFiles(dir, { sinceSeq: 6, limit: 4 })).toMatchObject({ truncated: false, entries: [{ seq: 7 }, { seq: 8 }, { seq: 9 }, { seq: 10 }] })
  })

  it('throws EventLogClosedError after close, and close is safe to repeat', () => {
    const log = EventLog.open(dir)
    log.close()
    log.close()
    expect(() => log.append(sampleEntry(1))).toThrow(EventLogClosedError)
  })

  it('replaces oversized evidence with a marker instead of writing a huge line', () => {
    const log = EventLog.open(dir)
    const e = log.append({ ...sampleEntry(1), evidence: { blob: 'x'.repeat(200_000) } })
    log.close()
    const [line] = rawLines(path.join(dir, CURRENT_FILE))
    expect(line.length).toBeLessThan(1000)
    expect(parseEntry(line)).toMatchObject({ seq: e.seq, evidence: { truncated: true } })
  })

  it('does not throw on unserializable evidence', () => {
    const log = EventLog.open(dir)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    log.append({ ...sampleEntry(1), evidence: cyclic })
    log.close()
    expect(readEventLogFiles(dir).entries[0].evidence).toMatchObject({ unserializable: expect.any(String) })
  })
})

describe('EventLog.open recovery', () => {
  it('skips a torn last line, cuts it off, and later appends parse with no seq gap', () => {
    let log = EventLog.open(dir)
    for (let i = 1; i <= 3; i++) log.append(sampleEntry(i))
    log.close()
    const file = path.join(dir, CURRENT_FILE)
    const torn = '{"seq":4,"ts":"2025-01-01T00:00:00.000Z","type":"member:fai'
    fs.appendFileSync(file, torn)

    const before = readEventLogFiles(dir)
    expect(before.entries.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(before.skippedLines).toBe(1)

    log = EventLog.open(dir)
    expect(log.recoveredTornBytes).toBe(Buffer.byteLength(torn))
    expect(log.lastSeq).toBe(3)
    log.append(sampleEntry(4))
    log.append(sampleEntry(5))
    log.close()

    const lines = rawLines(file)
    expect(lines.pop()).toBe('')
    for (const line of lines) expect(parseEntry(line)).toBeDefined()
    const after = readEventLogFiles(dir)
    expect(after.skippedLines).toBe(0)
    expect(after.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('skips a garbled line that has its newline, continuing from the last valid entry', () => {
    let log = EventLog.open(dir)
    for (let i = 1; i <= 2; i++) log.append(sampleEntry(i))
    log.close()
    fs.appendFileSync(path.join(dir, CURRENT_FILE), 'not json at all\n{"seq":"x"}\n')
    log = EventLog.open(dir)
    expect(log.lastSeq).toBe(2)
    log.append(sampleEntry(3))
    log.close()
    const read = readEventLogFiles(dir)
    expect(read.entries.map((e) => e.seq)).toEqual([1, 2, 3])
    expect(read.skippedLines).toBe(2)
  })

  it('treats a file holding only a torn line as empty', () => {
    fs.writeFileSync(path.join(dir, CURRENT_FILE), '{"seq":1,"ts"')
    const log = EventLog.open(dir)
    expect(log.lastSeq).toBe(0)
    expect(log.append(sampleEntry(1)).seq).toBe(1)
    log.close()
    expect(readEventLogFiles(dir)).toMatchObject({ skippedLines: 0, entries: [{ seq: 1 }] })
  })

  it('continues from the rotated files when the current file is empty', () => {
    const line = JSON.stringify({ seq: 41, ts: 'x', type: 't', id: 'i', name: 'n', from: null, to: 'alive', incarnation: 0 })
    fs.writeFileSync(path.join(dir, 'events.1.jsonl'), line + '\n')
    fs.writeFileSync(path.join(dir, CURRENT_FILE), '')
    const log = EventLog.open(dir)
    expect(log.lastSeq).toBe(41)
    expect(log.append(sampleEntry(1)).seq).toBe(42)
    log.close()
  })

  it('reads an overlong garbage line as one skipped line', () => {
    const good = JSON.stringify({ seq: 1, ts: 'x', type: 't', id: 'i', name: 'n', from: null, to: 'alive', incarnation: 0 })
    fs.writeFileSync(path.join(dir, CURRENT_FILE), `${'z'.repeat(300_000)}\n${good}\n`)
    const read = readEventLogFiles(dir)
    expect(read.skippedLines).toBe(1)
    expect(read.entries.map((e) => e.seq)).toEqual([1])
  })
})

describe('EventLog rotation', () => {
  it('bounds the total size and reads across rotated files oldest first', () => {
    const maxFileBytes = 16 * 1024
    const maxFiles = 3
    const log = EventLog.open(dir, { maxFileBytes, maxFiles })
    const n = 1000
    for (let i = 1; i <= n; i++) log.append(sampleEntry(i))
    const names = fs.readdirSync(dir).filter((f) => f.startsWith('events')).sort()
    expect(names).toEqual(['events.1.jsonl', 'events.2.jsonl', 'events.jsonl'])
    let total = 0
    for (const name of names) {
      const size = fs.statSync(path.join(dir, name)).size
      expect(size).toBeLessThanOrEqual(maxFileBytes)
      total += size
    }
    expect(total).toBeLessThanOrEqual(maxFiles * maxFileBytes)

    const entries = log.read()
    expect(entries.length).toBeGreaterThan(100)
    expect(entries[0].seq).toBeGreaterThan(1) // the oldest file was dropped
    expect(entries[entries.length - 1].seq).toBe(n)
    expectContiguous(entries)
    // sinceSeq reaching into the oldest kept file.
    const since = entries[10].seq
    expect(log.read({ sinceSeq: since, limit: 5 }).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5].map((k) => since + k))
    expect(log.read({ last: 3 }).map((e) => e.seq)).toEqual([n - 2, n - 1, n])
    log.close()

    const reopened = EventLog.open(dir, { maxFileBytes, maxFiles })
    expect(reopened.lastSeq).toBe(n)
    reopened.close()
  })

  it('removes rotated files beyond maxFiles on open', () => {
    let log = EventLog.open(dir, { maxFileBytes: 16 * 1024, maxFiles: 5 })
    for (let i = 1; i <= 1000; i++) log.append(sampleEntry(i))
    log.close()
    log = EventLog.open(dir, { maxFileBytes: 16 * 1024, maxFiles: 2 })
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('events')).sort()).toEqual(['events.1.jsonl', 'events.jsonl'])
    expect(log.lastSeq).toBe(1000)
    log.close()
  })

  it('keeps a single file bounded when maxFiles is 1', () => {
    const log = EventLog.open(dir, { maxFileBytes: 16 * 1024, maxFiles: 1 })
    for (let i = 1; i <= 300; i++) log.append(sampleEntry(i))
    expect(fs.statSync(path.join(dir, CURRENT_FILE)).size).toBeLessThanOrEqual(16 * 1024)
    expect(log.read().at(-1)?.seq).toBe(300)
    log.close()
  })
})

describe('EventLog write errors', () => {
  function failingFs(): { fsx: EventLogFs; setFailing: (code: string | undefined) => void } {
    let failing: string | undefined
    const fsx: EventLogFs = {
      ...nodeEventLogFs,
      writeSync(fd, buf, offset, length) {
        if (failing) throw errnoError(failing)
        return nodeEventLogFs.writeSync(fd, buf, offset, length)
      },
    }
    return { fsx, setFailing: (code) => (failing = code) }
  }

  it('buffers instead of throwing, reports once, and flushes on the next append', () => {
    const { fsx, setFailing } = failingFs()
    const errors: Error[] = []
    const log = EventLog.open(dir, { fs: fsx, onError: (e) => errors.push(e) })
    log.append(sampleEntry(1))
    setFailing('ENOSPC')
    expect(() => {
      for (let i = 2; i <= 4; i++) log.append(sampleEntry(i))
    }).not.toThrow()
    expect(log.pendingCount).toBe(3)
    expect((log.lastError as NodeJS.ErrnoException).code).toBe('ENOSPC')
    expect(errors).toHaveLength(1)
    // Buffered entries are still visible to readers in this process.
    expect(log.read().map((e) => e.seq)).toEqual([1, 2, 3, 4])
    expect(readEventLogFiles(dir).entries.map((e) => e.seq)).toEqual([1])

    setFailing(undefined)
    log.append(sampleEntry(5))
    expect(log.pendingCount).toBe(0)
    expect(readEventLogFiles(dir).entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])

    // A new failure episode is reported again.
    setFailing('EROFS')
    log.append(sampleEntry(6))
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ENOSPC', 'EROFS'])
    setFailing(undefined)
    expect(log.flush()).toBe(true)
    log.close()
  })

  it('bounds the buffer by dropping the oldest entries and counting them', () => {
    const { fsx, setFailing } = failingFs()
    const log = EventLog.open(dir, { fs: fsx, maxBufferedEntries: 5 })
    setFailing('EACCES')
    for (let i = 1; i <= 8; i++) log.append(sampleEntry(i))
    expect(log.pendingCount).toBe(5)
    expect(log.droppedCount).toBe(3)
    setFailing(undefined)
    log.append(sampleEntry(9))
    log.close()
    expect(readEventLogFiles(dir).entries.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8, 9])
  })

  it('cuts off a line torn by a short write before writing the next one', () => {
    // As write(2) does when the disk fills mid-line: a short count, then ENOSPC.
    let tearNext = false
    let failNext = false
    const fsx: EventLogFs = {
      ...nodeEventLogFs,
      writeSync(fd, buf, offset, length) {
        if (failNext) {
          failNext = false
          throw errnoError('ENOSPC')
        }
        if (tearNext) {
          tearNext = false
          failNext = true
          return nodeEventLogFs.writeSync(fd, buf, offset, Math.floor(length / 2))
        }
        return nodeEventLogFs.writeSync(fd, buf, offset, length)
      },
    }
    const log = EventLog.open(dir, { fs: fsx })
    log.append(sampleEntry(1))
    tearNext = true
    log.append(sampleEntry(2))
    expect(log.pendingCount).toBe(1)
    log.append(sampleEntry(3))
    log.close()
    const read = readEventLogFiles(dir)
    expect(read.skippedLines).toBe(0)
    expect(read.entries.map((e) => e.seq)).toEqual([1, 2, 3])
  })

  it('keeps running when the log file cannot even be opened', () => {
    let failOpen = true
    const fsx: EventLogFs = {
      ...nodeEventLogFs,
      openSync(file, flags, mode) {
        if (failOpen) throw errnoError('EMFILE')
        return nodeEventLogFs.openSync(file, flags, mode)
      },
    }
    const log = EventLog.open(dir, { fs: fsx })
    expect((log.lastError as NodeJS.ErrnoException).code).toBe('EMFILE')
    log.append(sampleEntry(1))
    expect(log.pendingCount).toBe(1)
    failOpen = false
    log.append(sampleEntry(2))
    log.close()
    expect(readEventLogFiles(dir).entries.map((e) => e.seq)).toEqual([1, 2])
  })

  it.runIf(process.platform === 'linux' && fs.existsSync('/dev/full'))('survives a real ENOSPC (events.jsonl → /dev/full)', () => {
    fs.symlinkSync('/dev/full', path.join(dir, CURRENT_FILE))
    const log = EventLog.open(dir)
    expect(() => log.append(sampleEntry(1))).not.toThrow()
    expect((log.lastError as NodeJS.ErrnoException).code).toBe('ENOSPC')
    expect(log.pendingCount).toBe(1)
    log.close()
    expect(log.droppedCount).toBe(1)
  })

  it('throws DataDirError when the data dir path is under a regular file', () => {
    const file = path.join(dir, 'plain-file')
    fs.writeFileSync(file, 'x')
    expect(() => EventLog.open(path.join(file, 'data'))).toThrow(DataDirError)
    expect(() => EventLog.open(file)).toThrow(/not a directory/)
  })
})

describe('EventLog.follow', () => {
  it('replays entries from fromSeq on, then streams new ones until unsubscribed', () => {
    const log = EventLog.open(dir)
    for (let i = 1; i <= 3; i++) log.append(sampleEntry(i))
    const got: number[] = []
    const stop = log.follow(2, (e) => got.push(e.seq))
    expect(got).toEqual([2, 3])
    log.append(sampleEntry(4))
    expect(got).toEqual([2, 3, 4])
    stop()
    log.append(sampleEntry(5))
    expect(got).toEqual([2, 3, 4])
    log.close()
  })

  it.each([[6], [Number.MAX_SAFE_INTEGER]])('treats fromSeq %d past the end as new entries only', (fromSeq) => {
    const log = EventLog.open(dir)
    for (let i = 1; i <= 5; i++) log.append(sampleEntry(i))
    const got: number[] = []
    log.follow(fromSeq, (e) => got.push(e.seq))
    expect(got).toEqual([])
    log.append(sampleEntry(6))
    expect(got).toEqual([6])
    log.close()
  })

  it('limits the number of followers and drops a follower that throws', () => {
    const errors: Error[] = []
    const log = EventLog.open(dir, { onError: (e) => errors.push(e) })
    const stops = Array.from({ length: MAX_FOLLOWERS }, () => log.follow(0, () => {}))
    expect(() => log.follow(0, () => {})).toThrow(TooManyFollowersError)
    for (const s of stops) s()
    let calls = 0
    log.follow(0, () => {
      calls++
      throw new Error('broken follower')
    })
    log.append(sampleEntry(1))
    log.append(sampleEntry(2))
    expect(calls).toBe(1)
    expect(errors.map((e) => e.message)).toEqual(['broken follower'])
    log.close()
  })
})

describe('exportCsv / exportJsonl', () => {
  const base: LogEntry = { seq: 1, ts: '2025-01-01T00:00:00.000Z', type: 'member:failed', id: 'p1', name: 'lab-01', from: 'suspect', to: 'failed', incarnation: 3 }

  it('writes the header and quotes commas, quotes and newlines', () => {
    const csv = exportCsv([
      { ...base, name: 'a,b', evidence: { rule: 'probe-failed', note: 'say "hi"' } },
      { ...base, seq: 2, name: 'line1\nline2', from: null },
    ])
    const rows = csv.split('\r\n')
    expect(rows[0]).toBe('seq,ts,type,id,name,from,to,incarnation,evidence')
    expect(rows[1]).toBe('1,2025-01-01T00:00:00.000Z,member:failed,p1,"a,b",suspect,failed,3,"{""rule"":""probe-failed"",""note"":""say \\""hi\\""""}"')
    expect(csv).toContain('2,2025-01-01T00:00:00.000Z,member:failed,p1,"line1\nline2",,failed,3,\r\n')
    expect(csv.endsWith('\r\n')).toBe(true)
  })

  it.each([
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ['+1', "'+1"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tcmd', "'\tcmd"],
    ['lab-01', 'lab-01'],
  ])('guards against formula injection in %j', (name, cell) => {
    const row = exportCsv([{ ...base, name }]).split('\r\n')[1]
    expect(row.split(',').slice(4).join(',').startsWith(cell)).toBe(true)
  })

  it('exports JSON Lines that parse back to the same entries', () => {
    const entries = [base, { ...base, seq: 2, evidence: { a: 1 }, digest: 'd' }]
    const text = exportJsonl(entries)
    expect(text.split('\n').filter(Boolean).map((l) => parseEntry(l))).toEqual(entries)
  })
})

describe('logEntryFromEvent', () => {
  it('maps a protocol event, replacing monotonic atMs by wall-clock ts', () => {
    const ev: MembershipEvent = { type: 'member:failed', id: 'p1', name: 'lab-01', from: 'suspect', to: 'failed', incarnation: 2, atMs: 123, evidence: { rule: 'suspicion-timeout', observer: 'me', atMs: 120, timeoutMs: 5000 } }
    const input = logEntryFromEvent(ev, Date.UTC(2025, 5, 1))
    expect(input).toEqual({ ts: '2025-06-01T00:00:00.000Z', type: 'member:failed', id: 'p1', name: 'lab-01', from: 'suspect', to: 'failed', incarnation: 2, evidence: ev.evidence })
  })
})
