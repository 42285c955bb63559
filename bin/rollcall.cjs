#!/usr/bin/env node
// Entry point of the `rollcall` command. Runs the compiled dist/ when it is at least as new as every
// source file (npm install builds it), else the TypeScript sources through tsx, so a checkout being
// edited never runs stale code. The check reads ~60 mtimes: well under 5 ms. From dist/ it runs the
// one-file bundle when that is as new, with a V8 code cache (see code-cache.cjs).
// ROLLCALL_NO_BUNDLE=1 runs the separate modules instead, ROLLCALL_NO_CODE_CACHE=1 the bundle
// without the cache; ROLLCALL_DEBUG_CODE_CACHE=1 says on stderr what the cache did.
//
// CommonJS, as is code-cache.cjs: Node starts a CommonJS entry without setting up its ES module
// loader, which took ~10 ms off every start here (an agent's spawn → "node started", 10 starts
// each, alternating: median 132 → 118 ms). The ES module code (dist/ as separate modules, the
// TypeScript sources) is loaded with import().
'use strict'
const { existsSync, readdirSync, statSync } = require('node:fs')
const v8 = require('node:v8')
const { join } = require('node:path')
const { pathToFileURL } = require('node:url')
const { runBundle } = require('./code-cache.cjs')

// A long-running agent allocates little. A 1 MiB young generation (V8's default is 16 MiB per
// semi-space) saves about 16 MB of RSS for a few more, very cheap, scavenges; --optimize-for-size
// keeps the old generation near what is live instead of the ~60 MiB the start-up burst (one Noise
// handshake per member) leaves committed. Measured in the fault lab, 20 agents: RSS 116 → 83 MiB
// mean, CPU 0.65 → 0.71 % of a core.
if (process.argv[2] === 'agent') {
  v8.setFlagsFromString('--max-semi-space-size=1')
  v8.setFlagsFromString('--optimize-for-size')
}

const root = join(__dirname, '..')
const built = join(root, 'dist', 'core', 'cli', 'main.js')
// The same code bundled into one file (npm run build makes it): much quicker to load, smaller heap.
const bundle = join(root, 'dist', 'core', 'cli', 'main.bundle.cjs')
// An agent writes its code cache once it has done the work a start does (its first handshakes,
// joins, probes, syncs), at a random moment in this window so a lab starting at once does not
// write 40 copies together; the other commands write theirs as they exit.
const AGENT_CODE_CACHE_WRITE_MIN_MS = 10_000
const AGENT_CODE_CACHE_WRITE_SPREAD_MS = 10_000

function runWithCodeCache() {
  const agent = process.argv[2] === 'agent'
  const cacheDir = process.env.ROLLCALL_NO_CODE_CACHE === '1' ? undefined : join(root, 'dist', 'code-cache')
  const run = runBundle(bundle, { cacheDir, flagsKey: agent ? 'agent' : 'cli' })
  const debug = process.env.ROLLCALL_DEBUG_CODE_CACHE === '1' ? (line) => process.stderr.write(`rollcall: code cache ${line}\n`) : () => {}
  debug(`${run.cache}${run.cacheFile ? ` ${run.cacheFile}` : ''}`)
  if (run.cache !== 'none' && run.cache !== 'rejected') return
  // Another process may have written it meanwhile (a rejected one is replaced regardless).
  const write = () => {
    if (run.cache !== 'rejected' && existsSync(run.cacheFile)) return
    debug(run.writeCache() ? `written ${run.cacheFile}` : `could not be written to ${run.cacheFile}`)
  }
  if (agent) setTimeout(write, AGENT_CODE_CACHE_WRITE_MIN_MS + Math.random() * AGENT_CODE_CACHE_WRITE_SPREAD_MS).unref()
  else process.once('exit', write)
}

function newestSourceMs(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMs(p))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

/** Load the ES module entry; a failure to load it is reported like any uncaught error, with exit code 1. */
function importOrExit(load) {
  load().catch((err) => {
    process.stderr.write(`rollcall: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 1
  })
}

const atLeastAsNew = (file, thanMs) => existsSync(file) && statSync(file).mtimeMs >= thanMs
if (process.env.ROLLCALL_FROM_SOURCE !== '1' && atLeastAsNew(built, newestSourceMs(join(root, 'core')))) {
  const useBundle = process.env.ROLLCALL_NO_BUNDLE !== '1' && atLeastAsNew(bundle, statSync(built).mtimeMs)
  if (useBundle) runWithCodeCache()
  else importOrExit(() => import(pathToFileURL(built).href))
} else {
  importOrExit(async () => {
    const { register } = await import('tsx/esm/api')
    register()
    await import(pathToFileURL(join(root, 'core', 'cli', 'main.ts')).href)
  })
}
