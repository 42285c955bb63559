// Bundles the Electron main process and preload with esbuild (installed with vite):
//   electron/main.ts    → dist/electron/main.js     (ESM; npm packages stay external, in node_modules)
//   electron/preload.ts → dist/electron/preload.cjs (CommonJS: a sandboxed preload cannot load modules)
import { build } from 'esbuild'
import path from 'node:path'
import { esmRequireBanner } from './esm-require.mjs'

const root = path.resolve(import.meta.dirname, '..')
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning', absWorkingDir: root }

await build({
  ...common,
  entryPoints: ['electron/main.ts'],
  outfile: 'dist/electron/main.js',
  format: 'esm',
  packages: 'external',
  banner: esmRequireBanner,
})
await build({ ...common, entryPoints: ['electron/preload.ts'], outfile: 'dist/electron/preload.cjs', format: 'cjs', external: ['electron'] })
console.log('built dist/electron/main.js and dist/electron/preload.cjs')
