// Runs the CLI's one-file CommonJS bundle with a V8 code cache.
//
// Much of an agent's start-up after Node's own is V8 compiling JavaScript: the 1.3 MB bundle as it
// loads, then each function the first time it runs (V8 compiles lazily), many of them in the first
// Noise handshakes. A code cache made after the code has run holds the compiled bytecode of all of
// them, and V8 loads it instead of compiling. Node 20 offers a code cache only to vm.Script
// (module.enableCompileCache came in Node 22), hence a CommonJS bundle compiled here, not import().
//
// The cache file's name carries a hash of the bundle's bytes, the Node version and architecture and
// the V8 flags (Node's command line, NODE_OPTIONS, and a key for the ones the agent sets itself: V8
// rejects a cache made under other flags), so a rebuilt bundle or an upgraded Node never reads a
// cache made for another. No cache, or one V8 rejects: the bundle compiles as without one, and the
// caller writes a fresh one once the code has run (writeCache: to a temporary file, then renamed,
// so a reader never sees half of one). Every failure here only costs the speed-up: a command never
// fails for its cache.
'use strict'
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const { createRequire } = require('node:module')
const path = require('node:path')
const vm = require('node:vm')

/** A cache larger than this is not read or written (the agent's is ~2 MB, a CLI command's ~0.5 MB). */
const MAX_CODE_CACHE_BYTES = 64 * 1024 * 1024

// Node's own CommonJS wrapper, on the first line so line numbers in stack traces stay the bundle's.
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { '
const WRAP_TAIL = '\n})'

/** Where the cache for these bundle bytes, this Node and these V8 flags lives. */
function codeCacheFile(cacheDir, bundleBytes, flagsKey) {
  if (!/^[a-z0-9-]{1,32}$/.test(flagsKey)) throw new TypeError(`codeCacheFile: flagsKey must be 1–32 of [a-z0-9-], got ${JSON.stringify(flagsKey)}`)
  const hash = createHash('sha256')
    .update(bundleBytes)
    .update(`\0${process.version}\0${process.arch}\0${flagsKey}\0${process.execArgv.join(' ')}\0${process.env.NODE_OPTIONS ?? ''}`)
    .digest('hex')
  return path.join(cacheDir, `${flagsKey}-${hash.slice(0, 24)}.v8cache`)
}

function readCache(file) {
  try {
    const st = fs.statSync(file)
    if (!st.isFile() || st.size === 0 || st.size > MAX_CODE_CACHE_BYTES) return undefined
    return fs.readFileSync(file)
  } catch {
    return undefined
  }
}

/**
 * Compile and run the CommonJS file at bundlePath, with the code cache in cacheDir when there is one
 * (cacheDir undefined: no cache). Returns what the caller needs to decide on writing one:
 * `cache` is 'accepted', 'rejected' (V8 refused it: other flags, a corrupt file), 'none' or 'off'.
 */
function runBundle(bundlePath, { cacheDir, flagsKey }) {
  const bytes = fs.readFileSync(bundlePath)
  const cacheFile = cacheDir === undefined ? undefined : codeCacheFile(cacheDir, bytes, flagsKey)
  const cachedData = cacheFile === undefined ? undefined : readCache(cacheFile)
  const script = new vm.Script(WRAP_HEAD + bytes.toString('utf8') + WRAP_TAIL, {
    filename: bundlePath,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const cache = cacheFile === undefined ? 'off' : cachedData === undefined ? 'none' : script.cachedDataRejected === false ? 'accepted' : 'rejected'
  const mod = { exports: {} }
  script.runInThisContext()(mod.exports, createRequire(bundlePath), mod, bundlePath, path.dirname(bundlePath))
  return {
    cache,
    cacheFile,
    exports: mod.exports,
    /** Write the cache of everything compiled so far. true when written; never throws. */
    writeCache() {
      if (cacheFile === undefined) return false
      const tmp = `${cacheFile}.${process.pid}.tmp`
      try {
        const data = script.createCachedData()
        if (data.byteLength === 0 || data.byteLength > MAX_CODE_CACHE_BYTES) return false
        fs.mkdirSync(path.dirname(cacheFile), { recursive: true })
        fs.writeFileSync(tmp, data, { mode: 0o644 })
        fs.renameSync(tmp, cacheFile)
        return true
      } catch {
        try {
          fs.unlinkSync(tmp)
        } catch {}
        return false
      }
    },
  }
}

module.exports = { MAX_CODE_CACHE_BYTES, codeCacheFile, runBundle }
