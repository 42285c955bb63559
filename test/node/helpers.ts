import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { LogEntryInput } from '../../core/node/eventlog.js'

/** A fresh temp dir; call the returned cleanup in afterEach. */
export function tempDir(prefix = 'rollcall-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

export function sampleEntry(i: number, extra: Partial<LogEntryInput> = {}): LogEntryInput {
  return {
    type: 'member:suspected',
    id: `12D3KooWPeer${i}`,
    name: `lab-${String(i).padStart(2, '0')}`,
    from: 'alive',
    to: 'suspect',
    incarnation: i,
    evidence: { rule: 'probe-failed', observer: 'self', atMs: i, strength: 'weak' },
    ...extra,
  }
}

/** Every line of a JSONL file, raw. */
export function rawLines(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8')
  return text.split('\n')
}
