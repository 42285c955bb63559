// Bundles the compiled CLI (dist/core/cli/main.js, from tsc) and every npm package it loads into one
// file, dist/core/cli/main.bundle.mjs, with esbuild (installed with vite). bin/rollcall.js runs the
// bundle when it is fresh. One file instead of ~650 modules, without comments and unused exports:
// measured, one agent on loopback, libp2p load and identity 248–306 → 26–27 ms, RSS 77–80 →
// 64 MiB, JS heap 16.5 → 10.9 MiB (V8 keeps every module's source text and module records).
// Identifiers are kept, so stack traces in logs stay readable.
import { build } from 'esbuild'
import path from 'node:path'
import { esmRequireBanner } from './esm-require.mjs'

const root = path.resolve(import.meta.dirname, '..')
await build({
  absWorkingDir: root,
  entryPoints: ['dist/core/cli/main.js'],
  outfile: 'dist/core/cli/main.bundle.mjs', // same folder depth as the module it bundles: paths from import.meta.dirname still hold
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  banner: esmRequireBanner,
})
console.log('built dist/core/cli/main.bundle.mjs')
