// Bundles the compiled CLI (dist/core/cli/main.js, from tsc) and every npm package it loads into one
// file, dist/core/cli/main.bundle.cjs, with esbuild (installed with vite). bin/rollcall.cjs runs the
// bundle when it is fresh. One file instead of ~650 modules, without comments and unused exports:
// measured, one agent on loopback, libp2p load and identity 248–306 → 26–27 ms, RSS 77–80 →
// 64 MiB, JS heap 16.5 → 10.9 MiB (V8 keeps every module's source text and module records).
// CommonJS rather than an ES module so bin/code-cache.cjs can compile it with a V8 code cache
// (vm.Script cachedData; Node 20 has no code cache for ES modules): see that file.
// Identifiers are kept, so stack traces in logs stay readable.
import { build } from 'esbuild'
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')

/**
 * Two start-up costs of every agent, removed at bundle time (measured in a CPU profile of one start):
 * - @libp2p/peer-store sorts protocol names, metadata keys and addresses with localeCompare, and
 *   V8's first localeCompare loads ICU's collation data (~10 ms). The order only has to be
 *   deterministic, so an ordinal comparison does.
 * - mortice (peer-store's locks) loads node:cluster and node:worker_threads and opens a
 *   BroadcastChannel to serve locks to cluster workers and worker threads (~6 ms). The agent is one
 *   process with neither, and peer-store asks for single-process locks.
 * Each patch fails the build when the code it expects is gone (a dependency update), rather than
 * silently keep the cost.
 */
const startupPatches = {
  name: 'rollcall-startup-patches',
  setup(b) {
    b.onLoad({ filter: /[\\/]@libp2p[\\/]peer-store[\\/]dist[\\/]src[\\/]utils[\\/](to-peer-pb|dedupe-addresses)\.js$/ }, async (args) => {
      const src = await fs.promises.readFile(args.path, 'utf8')
      let n = 0
      const out = src.replace(/([\w.]+(?:\(\))?)\.localeCompare\(([\w.]+(?:\(\))?)\)/g, (_, a, c) => {
        n++
        return `__rcOrdinalCompare(${a}, ${c})`
      })
      if (n === 0 || out.includes('localeCompare')) throw new Error(`bundle-agent: expected localeCompare calls to patch in ${args.path}`)
      return { contents: `const __rcOrdinalCompare = (x, y) => (x < y ? -1 : x > y ? 1 : 0);\n${out}`, loader: 'js' }
    })
    b.onLoad({ filter: /[\\/]mortice[\\/]dist[\\/]src[\\/]node\.js$/ }, async (args) => {
      const src = await fs.promises.readFile(args.path, 'utf8')
      if (!src.includes("from 'node:cluster'") || !src.includes('options.singleProcess')) throw new Error(`bundle-agent: ${args.path} is not the mortice this patch knows`)
      return {
        contents: "import { TypedEventEmitter } from 'main-event';\nexport default () => new TypedEventEmitter();\n",
        loader: 'js',
        resolveDir: path.dirname(args.path),
      }
    })
  },
}

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
  plugins: [startupPatches],
})
// The code caches belong to the bundle they were made from (their names carry its hash): clear them,
// and the ES module bundle (main.bundle.mjs) that earlier builds made.
fs.rmSync(path.join(root, 'dist', 'code-cache'), { recursive: true, force: true })
fs.rmSync(path.join(root, 'dist', 'core', 'cli', 'main.bundle.mjs'), { force: true })
console.log('built dist/core/cli/main.bundle.cjs')
