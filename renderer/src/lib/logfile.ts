// Reading an exported event log (JSONL or CSV, as `rollcall export` and the app write them) back
// for replay. The renderer cannot import core/node/eventlog.ts (it uses node:fs), so this is the
// browser-side reader; it accepts exactly what exportJsonl/exportCsv produce.
import type { LogEntry } from '../../../core/contract.js'

/** A replay file larger than this is refused: the log keeps ~40 MiB at most. */
export const MAX_REPLAY_BYTES = 64 * 1024 * 1024
export const MAX_REPLAY_ENTRIES = 200_000

export class LogFileError extends Error {
  override name = 'LogFileError'
}

export interface ParsedLog {
  entries: LogEntry[]
  skipped: number
  format: 'jsonl' | 'csv'
}

function asEntry(v: unknown): LogEntry | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const e = v as Record<string, unknown>
  const ok = typeof e.seq === 'number' && Number.isSafeInteger(e.seq) && e.seq > 0 && typeof e.ts === 'string' && !Number.isNaN(Date.parse(e.ts)) &&
    typeof e.type === 'string' && typeof e.id === 'string' && typeof e.name === 'string' && (e.from === null || typeof e.from === 'string') &&
    typeof e.to === 'string' && typeof e.incarnation === 'number'
  return ok ? (e as unknown as LogEntry) : undefined
}

/** RFC 4180 records (quoted fields, "" escapes, CRLF or LF). */
export function parseCsvRecords(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"'
          i++
        } else quoted = false
      } else cell += c
      continue
    }
    if (c === '"') quoted = true
    else if (c === ',') {
      row.push(cell)
      cell = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
    } else cell += c
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell)
    rows.push(row)
  }
  return rows
}

/** Undo exportCsv's formula guard: a leading ' before = + - @ tab or CR was added by the exporter. */
const unguard = (s: string) => (/^'[=+\-@\t\r]/.test(s) ? s.slice(1) : s)

export function parseLogText(text: string): ParsedLog {
  if (text.length > MAX_REPLAY_BYTES) throw new LogFileError(`the file is larger than ${MAX_REPLAY_BYTES / 1024 / 1024} MiB`)
  const start = text.trimStart()
  if (start.startsWith('seq,')) return parseCsv(text)
  if (start.startsWith('{') || start === '') return parseJsonl(text)
  throw new LogFileError('this is neither a Rollcall JSONL nor a CSV export (expected a line starting with { or the header seq,ts,type,…)')
}

function finish(entries: LogEntry[], skipped: number, format: 'jsonl' | 'csv'): ParsedLog {
  if (entries.length === 0) throw new LogFileError(skipped > 0 ? `no readable entries (${skipped} lines could not be read)` : 'the file has no entries')
  entries.sort((a, b) => a.seq - b.seq)
  return { entries: entries.slice(0, MAX_REPLAY_ENTRIES), skipped, format }
}

function parseJsonl(text: string): ParsedLog {
  const entries: LogEntry[] = []
  let skipped = 0
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '') continue
    let v: unknown
    try {
      v = JSON.parse(t)
    } catch {
      skipped++
      continue
    }
    const e = asEntry(v)
    if (e) entries.push(e)
    else skipped++
  }
  return finish(entries, skipped, 'jsonl')
}

function parseCsv(text: string): ParsedLog {
  const rows = parseCsvRecords(text)
  const header = rows.shift() ?? []
  const col = (name: string) => header.indexOf(name)
  const need = ['seq', 'ts', 'type', 'id', 'name', 'from', 'to', 'incarnation']
  for (const n of need) if (col(n) < 0) throw new LogFileError(`the CSV header lacks the column ${n}`)
  const entries: LogEntry[] = []
  let skipped = 0
  for (const r of rows) {
    if (r.length === 1 && r[0] === '') continue
    const get = (n: string) => unguard(r[col(n)] ?? '')
    const ev = col('evidence') >= 0 ? get('evidence') : ''
    let evidence: unknown
    if (ev !== '') {
      try {
        evidence = JSON.parse(ev)
      } catch {
        evidence = undefined
      }
    }
    const from = get('from')
    const e = asEntry({
      seq: Number(get('seq')), ts: get('ts'), type: get('type'), id: get('id'), name: get('name'), from: from === '' ? null : from,
      to: get('to'), incarnation: Number(get('incarnation')), ...(evidence !== undefined ? { evidence } : {}),
    })
    if (e) entries.push(e)
    else skipped++
  }
  return finish(entries, skipped, 'csv')
}
