// `npm run bench -- --table FILE`: prints the table of a saved run (also one stopped early) and
// answers anything that is not a results file with a clear error and exit code 2. Runs no lab.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')
const tsx = path.join(root, 'node_modules', '.bin', 'tsx')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-table-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

async function table(content: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = path.join(dir, `r${Math.random().toString(36).slice(2)}.json`)
  fs.writeFileSync(file, content)
  try {
    const { stdout, stderr } = await promisify(execFile)(tsx, ['bench/serf-compare.ts', '--table', file], { cwd: root, timeout: 30_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('bench --table', () => {
  it('prints the rows of a run stopped early, and says so', async () => {
    const rows = [
      { mode: 'ns', n: 10, metric: 'crash.all_ms', rollcall: 1098, serf: 6158, ratio: 1098 / 6158, target: '≤ 0.25×', met: true, reps: 3 },
      { mode: 'ns', n: 10, metric: 'idle.rss_mib', rollcall: 71.3, serf: null, ratio: null, reps: 2 },
    ]
    const r = await table(JSON.stringify({ startedAt: '2026-11-22T07:00:00.000Z', durationS: 600, complete: false, labRuns: 18, labRunsDone: 5, machine: { rollcallCommit: 'abc1234' }, rows }))
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('stopped early: 5 of 18 lab runs')
    expect(r.stdout).toMatch(/\| ns\s+\| 10 \| crash\.all_ms\s+\| 1098 ms\s+\| 6158 ms \| 0\.18×\s+\| ≤ 0\.25× \| yes \|/)
    expect(r.stdout).toMatch(/\| idle\.rss_mib\s+\| 71\.3 MiB \| —\s+\| —/)
  })

  it('refuses a file that is not JSON or has no valid rows, with exit code 2', async () => {
    const notJson = await table('not json')
    expect(notJson.code).toBe(2)
    expect(notJson.stderr).toContain('is not JSON')
    const noRows = await table(JSON.stringify({ rows: [{ metric: 'x' }] }))
    expect(noRows.code).toBe(2)
    expect(noRows.stderr).toContain('not a bench results file')
  })
})
