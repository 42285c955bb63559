import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acquireAgentLock, AgentRunningError, LOCK_FILE } from '../../core/node/lock.js'
import { tempDir } from './helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

/** The PID of a process that has exited, so nothing answers signal 0 on it (unless reused). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(child.stdout)
}

describe('acquireAgentLock', () => {
  it('writes our PID and removes the file on release (safe to repeat)', () => {
    const lock = acquireAgentLock(dir)
    const file = path.join(dir, LOCK_FILE)
    expect(fs.readFileSync(file, 'utf8')).toBe(`${process.pid}\n`)
    lock.release()
    lock.release()
    expect(fs.existsSync(file)).toBe(false)
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it('refuses a second acquire while the holder is alive', () => {
    const lock = acquireAgentLock(dir)
    try {
      expect(() => acquireAgentLock(dir)).toThrow(AgentRunningError)
      expect(() => acquireAgentLock(dir)).toThrow(`another rollcall agent (pid ${process.pid}) is already using ${dir}`)
    } finally {
      lock.release()
    }
  })

  it('takes over a lock left by a dead process', () => {
    const stale = deadPid()
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${stale}\n`)
    const lock = acquireAgentLock(dir)
    expect(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`)
    lock.release()
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it.each([[''], ['garbage'], ['0'], ['-5']])('takes over a lock file holding %j', (content) => {
    fs.writeFileSync(path.join(dir, LOCK_FILE), content)
    const lock = acquireAgentLock(dir)
    expect(lock.pid).toBe(process.pid)
    lock.release()
  })

  it('does not remove a lock another agent took over', () => {
    const lock = acquireAgentLock(dir)
    fs.writeFileSync(path.join(dir, LOCK_FILE), '999999999\n')
    lock.release()
    expect(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).toBe('999999999\n')
  })
})
