import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CURRENT_FILE, EventLog, parseEntry, readEventLogFiles } from '../../core/node/eventlog.js'
import { tempDir } from './helpers.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const fixture = path.join(root, 'test/node/fixtures/append-loop.ts')
/** Bounds on the child: it must still be appending when killed, but can never run away. */
const CHILD_MAX_APPENDS = 5_000_000
const CHILD_MAX_MS = 15_000
const PROGRESS_AT = 2000

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

interface Run {
  readySeq: number
  signal: NodeJS.Signals | null
}

/** Starts the appender, SIGKILLs it `delayMs` after it reports progress. */
function runAndKill(delayMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(CHILD_MAX_APPENDS), String(CHILD_MAX_MS), String(PROGRESS_AT)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let readySeq = -1
    let killTimer: NodeJS.Timeout | undefined
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (c: string) => (err = (err + c).slice(-4000)))
    child.stdout.on('data', (c: string) => {
      out += c
      const m = /ready (\d+)\n/.exec(out)
      if (m) readySeq = Number(m[1])
      if (out.includes('progress\n') && !killTimer) killTimer = setTimeout(() => child.kill('SIGKILL'), delayMs)
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(killTimer)
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`appender exited with ${code}: ${err}`))
      else resolve({ readySeq, signal })
    })
  })
}

/** Every line of every file parses, except at most a torn last line of the current file. */
function checkFiles(): { tornLines: number; lastSeq: number } {
  const files = fs.readdirSync(dir).filter((f) => /^events(\.\d+)?\.jsonl$/.test(f))
  let tornLines = 0
  for (const name of files) {
    const lines = fs.readFileSync(path.join(dir, name), 'utf8').split('\n')
    const tail = lines.pop() as string
    for (const line of lines) expect(parseEntry(line), `${name}: ${line.slice(0, 80)}`).toBeDefined()
    if (tail !== '') {
      expect(name).toBe(CURRENT_FILE)
      tornLines++
    }
  }
  expect(readEventLogFiles(dir, { last: 1 }).skippedLines).toBe(tornLines)
  // Page through (one read returns at most MAX_READ_ENTRIES); seq must run 1, 2, 3… throughout.
  let lastSeq = 0
  for (;;) {
    const { entries } = readEventLogFiles(dir, { sinceSeq: lastSeq })
    if (entries.length === 0) break
    for (const e of entries) {
      if (e.seq !== lastSeq + 1) expect.fail(`seq gap: ${lastSeq} → ${e.seq}`)
      lastSeq = e.seq
    }
  }
  return { tornLines, lastSeq }
}

describe('EventLog under SIGKILL', () => {
  it('leaves every line parseable but a torn last one, and resumes without seq gaps', { timeout: 60_000 }, async () => {
    let prevLastSeq = 0
    for (const delayMs of [0, 7, 23]) {
      const run = await runAndKill(delayMs)
      expect(run.signal).toBe('SIGKILL')
      expect(run.readySeq).toBe(prevLastSeq) // the new child continued where the last complete entry was
      const { lastSeq } = checkFiles()
      expect(lastSeq).toBeGreaterThan(prevLastSeq + PROGRESS_AT)
      prevLastSeq = lastSeq
    }
    const log = EventLog.open(dir, { maxFileBytes: 256 * 1024, maxFiles: 1000 })
    expect(log.lastSeq).toBe(prevLastSeq)
    log.append({ type: 'self:state', id: 'me', name: 'me', from: 'joined', to: 'left', incarnation: 1 })
    log.close()
    expect(checkFiles()).toEqual({ tornLines: 0, lastSeq: prevLastSeq + 1 })
  })
})
