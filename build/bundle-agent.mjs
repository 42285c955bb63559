// Bundles the compiled CLI (dist/core/cli/main.js, from tsc) and every npm package it loads into one
// file, dist/core/cli/main.bundle.cjs, with esbuild (installed with vite). bin/rollcall.js runs the
// bundle when it is fresh. One file instead of ~650 modules, without comments and unused exports:
// measured, one agent on loopback, libp2p load and identity 248–306 → 26–27 ms, RSS 77–80 →
// 64 MiB, JS heap 16.5 → 10.9 MiB (V8 keeps every module's source text and module records).
// CommonJS rather than an ES module so bin/code-cache.js can compile it with a V8 code cache
// (vm.Script cachedData; Node 20 has no code cache for ES modules): see that file.
// Identifiers are kept, so stack traces in logs stay readable.
import { build } from 'esbuild'
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
await build({
  absWorkingDir: root,
  entryPoints: ['dist/core/cli/main.js'],
  outfile: 'dist/core/cli/main.bundle.cjs', // same folder depth as the module it bundles: paths from import.meta.dirname still hold
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // The sources are ES modules: give their import.meta the bundle's own location.
  define: { 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename', 'import.meta.url': '__rcBundleUrl' },
  banner: { js: "const __rcBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
})
// The code caches belong to the bundle they were made from (their names carry its hash): clear them,
// and the ES module bundle (main.bundle.mjs) that earlier builds made.
fs.rmSync(path.join(root, 'dist', 'code-cache'), { recursive: true, force: true })
fs.rmSync(path.join(root, 'dist', 'core', 'cli', 'main.bundle.mjs'), { force: true })
console.log('built dist/core/cli/main.bundle.cjs')
