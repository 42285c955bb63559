import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataDirError, defaultDataDir, ensureDataDir, readState, resolveDataDir, STATE_FILE, writeState } from '../../core/node/datadir.js'
import { tempDir } from './helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

describe('defaultDataDir', () => {
  it.each([
    ['linux', { XDG_STATE_HOME: '/xdg/state' }, '/home/u', '/xdg/state/rollcall'],
    ['linux', {}, '/home/u', '/home/u/.local/state/rollcall'],
    ['linux', { XDG_STATE_HOME: 'relative/ignored' }, '/home/u', '/home/u/.local/state/rollcall'],
    ['freebsd', {}, '/home/u', '/home/u/.local/state/rollcall'],
    ['darwin', { XDG_STATE_HOME: '/ignored' }, '/Users/u', '/Users/u/Library/Application Support/Rollcall'],
    ['win32', { LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'C:\\Users\\u', 'C:\\Users\\u\\AppData\\Local\\Rollcall'],
    ['win32', {}, 'C:\\Users\\u', 'C:\\Users\\u\\AppData\\Local\\Rollcall'],
  ] as const)('on %s with %j', (platform, env, home, expected) => {
    expect(defaultDataDir(env, platform, home)).toBe(expected)
  })
})

describe('resolveDataDir', () => {
  it('makes a given dir absolute and expands ~', () => {
    expect(resolveDataDir('rel/x')).toBe(path.resolve('rel/x'))
    expect(resolveDataDir('~/rc')).toBe(path.join(os.homedir(), 'rc'))
    expect(resolveDataDir()).toBe(defaultDataDir())
  })
})

describe('ensureDataDir', () => {
  it('creates the dir owner-only and is safe to repeat', () => {
    const d = path.join(dir, 'a', 'b')
    expect(ensureDataDir(d)).toBe(d)
    expect(ensureDataDir(d)).toBe(d)
    if (process.platform !== 'win32') expect(fs.statSync(d).mode & 0o777).toBe(0o700)
    expect(fs.readdirSync(d)).toEqual([]) // the write probe is cleaned up
  })

  it('throws DataDirError naming the path when a file is in the way', () => {
    const file = path.join(dir, 'f')
    fs.writeFileSync(file, '')
    expect(() => ensureDataDir(file)).toThrow(DataDirError)
    expect(() => ensureDataDir(file)).toThrow(`data dir ${file} exists but is not a directory`)
    try {
      ensureDataDir(path.join(file, 'sub'))
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(DataDirError)
      expect((err as DataDirError).message).toMatch(/cannot create data dir .*ENOTDIR/)
    }
  })
})

describe('readState/writeState', () => {
  it('returns undefined before any state was written', () => {
    expect(readState(dir)).toBeUndefined()
  })

  it('round-trips state with extra fields, mode 0600, leaving no temp files', () => {
    writeState(dir, { incarnation: 7, note: 'x' })
    writeState(dir, { incarnation: 8, note: 'y' })
    expect(readState(dir)).toEqual({ incarnation: 8, note: 'y' })
    expect(fs.readdirSync(dir)).toEqual([STATE_FILE])
    if (process.platform !== 'win32') expect(fs.statSync(path.join(dir, STATE_FILE)).mode & 0o777).toBe(0o600)
  })

  it.each([
    ['invalid JSON', '{"incarnation": 3'],
    ['not an object', '[1]'],
    ['a bad incarnation', '{"incarnation": -1}'],
    ['a missing incarnation', '{}'],
  ])('throws DataDirError with the path for %s', (_what, text) => {
    const file = path.join(dir, STATE_FILE)
    fs.writeFileSync(file, text)
    expect(() => readState(dir)).toThrow(DataDirError)
    expect(() => readState(dir)).toThrow(file)
  })

  it('rejects writing a bad incarnation', () => {
    expect(() => writeState(dir, { incarnation: 1.5 })).toThrow(TypeError)
  })

  it('throws DataDirError when the dir is gone', () => {
    expect(() => writeState(path.join(dir, 'missing'), { incarnation: 1 })).toThrow(DataDirError)
  })
})
