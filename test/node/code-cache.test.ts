// bin/code-cache.cjs: the V8 code cache the CLI bundle runs with. Each load runs in a child process
// (one V8 per load, as in real use: a process that compiled a script once keeps it in memory).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { codeCacheFile, MAX_CODE_CACHE_BYTES } from '../../bin/code-cache.cjs'
import { tempDir } from './helpers.js'

const REPO = path.resolve(import.meta.dirname, '../..')
const CODE_CACHE_JS = path.join(REPO, 'bin', 'code-cache.cjs')
const BIN = path.join(REPO, 'bin', 'rollcall.cjs')

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

/** A CommonJS "bundle" with some functions to compile, exporting what it saw of its wrapper. */
function writeBundle(answer: number): string {
  const file = path.join(dir, 'bundle.cjs')
  const fns = Array.from({ length: 50 }, (_, i) => `function f${i}(x) { return x * ${i} + ${answer} }`).join('\n')
  fs.writeFileSync(file, `const path = require('node:path')\n${fns}\nmodule.exports = { answer: f1(0), base: path.basename(__filename), dir: __dirname, sum: [${Array.from({ length: 50 }, (_, i) => `f${i}(1)`).join(', ')}].reduce((a, b) => a + b) }\n`)
  return file
}

interface LoadResult {
  cache: string
  cacheFile?: string
  exports: { answer: number; base: string; dir: string; sum: number }
  written?: boolean
}

/** Load the bundle in a fresh process; write the cache afterwards when asked. */
function load(bundle: string, cacheDir: string | undefined, write = false): LoadResult {
  const script = `import { runBundle } from ${JSON.stringify(CODE_CACHE_JS)}
const [bundle, cacheDir, write] = process.argv.slice(1)
const run = runBundle(bundle, { cacheDir: cacheDir === '-' ? undefined : cacheDir, flagsKey: 'test' })
const written = write === 'write' ? run.writeCache() : undefined
console.log(JSON.stringify({ cache: run.cache, cacheFile: run.cacheFile, exports: run.exports, written }))`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, bundle, cacheDir ?? '-', write ? 'write' : ''], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`load failed (${r.status}): ${r.stderr}`)
  return JSON.parse(r.stdout) as LoadResult
}

describe('runBundle', () => {
  it('runs the bundle as CommonJS, writes a cache, and the next process uses it', () => {
    const bundle = writeBundle(7)
    const cacheDir = path.join(dir, 'cache')
    const first = load(bundle, cacheDir, true)
    expect(first.exports).toEqual({ answer: 7, base: 'bundle.cjs', dir, sum: 1225 + 50 * 7 })
    expect(first.cache).toBe('none')
    expect(first.written).toBe(true)
    expect(path.dirname(first.cacheFile!)).toBe(cacheDir)
    expect(fs.statSync(first.cacheFile!).size).toBeGreaterThan(0)
    expect(fs.readdirSync(cacheDir)).toEqual([path.basename(first.cacheFile!)]) // no temporary file left

    const second = load(bundle, cacheDir)
    expect(second.cache).toBe('accepted')
    expect(second.exports).toEqual(first.exports)
  })

  it('never reads the cache of other bundle bytes', () => {
    const cacheDir = path.join(dir, 'cache')
    const first = load(writeBundle(7), cacheDir, true)
    const changed = load(writeBundle(8), cacheDir)
    expect(changed.cache).toBe('none')
    expect(changed.cacheFile).not.toBe(first.cacheFile)
    expect(changed.exports.answer).toBe(8)
  })

  it('runs without a cache V8 refuses (a corrupt file), and a fresh one replaces it', () => {
    const bundle = writeBundle(7)
    const cacheDir = path.join(dir, 'cache')
    const file = load(bundle, cacheDir).cacheFile!
    fs.mkdirSync(cacheDir)
    fs.writeFileSync(file, Buffer.alloc(4096, 0x5a))
    const corrupt = load(bundle, cacheDir, true)
    expect(corrupt.cache).toBe('rejected')
    expect(corrupt.exports.answer).toBe(7)
    expect(corrupt.written).toBe(true)
    expect(load(bundle, cacheDir).cache).toBe('accepted')
  })

  it('does not read a cache file over the size limit, or one that is empty', () => {
    const bundle = writeBundle(7)
    const cacheDir = path.join(dir, 'cache')
    const file = load(bundle, cacheDir).cacheFile!
    fs.mkdirSync(cacheDir)
    fs.writeFileSync(file, '')
    expect(load(bundle, cacheDir).cache).toBe('none')
    fs.truncateSync(file, MAX_CODE_CACHE_BYTES + 1) // sparse: no 64 MiB written
    expect(load(bundle, cacheDir).cache).toBe('none')
  })

  it('runs on when the cache cannot be written, and with no cache dir at all', () => {
    const bundle = writeBundle(7)
    const notADir = path.join(dir, 'file')
    fs.writeFileSync(notADir, 'x')
    const blocked = load(bundle, notADir, true)
    expect(blocked).toMatchObject({ cache: 'none', written: false, exports: { answer: 7 } })
    expect(fs.readFileSync(notADir, 'utf8')).toBe('x')
    const off = load(bundle, undefined, true)
    expect(off).toMatchObject({ cache: 'off', written: false, exports: { answer: 7 } })
  })
})

describe('codeCacheFile', () => {
  it('names the cache by the bundle bytes and the flags key, and refuses a key that is not a plain name', () => {
    const a = codeCacheFile('/c', Buffer.from('a'), 'agent')
    expect(path.dirname(a)).toBe('/c')
    expect(path.basename(a)).toMatch(/^agent-[0-9a-f]{24}\.v8cache$/)
    expect(codeCacheFile('/c', Buffer.from('a'), 'agent')).toBe(a)
    expect(codeCacheFile('/c', Buffer.from('b'), 'agent')).not.toBe(a)
    expect(codeCacheFile('/c', Buffer.from('a'), 'cli')).not.toBe(a)
    expect(() => codeCacheFile('/c', Buffer.from('a'), '../x')).toThrow(TypeError)
    expect(() => codeCacheFile('/c', Buffer.from('a'), '')).toThrow(TypeError)
  })
})

describe('bin/rollcall.cjs with the bundle', () => {
  const bundleFresh = (): boolean => {
    const bundle = path.join(REPO, 'dist', 'core', 'cli', 'main.bundle.cjs')
    const built = path.join(REPO, 'dist', 'core', 'cli', 'main.js')
    return fs.existsSync(bundle) && fs.existsSync(built) && fs.statSync(bundle).mtimeMs >= fs.statSync(built).mtimeMs
  }
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env: { ...process.env, ROLLCALL_DEBUG_CODE_CACHE: '1', ...env } })

  it('uses the code cache from the second run on, and not with ROLLCALL_NO_CODE_CACHE=1', (ctx) => {
    const first = run({})
    if (!/code cache/.test(first.stderr)) {
      // bin/rollcall.cjs runs the TypeScript sources when dist/ is older than core/ (a checkout being edited).
      if (!bundleFresh()) ctx.skip()
    }
    expect(first.status).toBe(0)
    expect(first.stdout).toMatch(/^\d+\.\d+\.\d+/)
    const second = run({})
    expect(second.status).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(second.stderr).toMatch(/^rollcall: code cache accepted .*cli-[0-9a-f]{24}\.v8cache$/m)
    const off = run({ ROLLCALL_NO_CODE_CACHE: '1' })
    expect(off.stdout).toBe(first.stdout)
    expect(off.stderr).toMatch(/^rollcall: code cache off$/m)
  })
})
