import { svelte } from '@sveltejs/vite-plugin-svelte'
import { svelteTesting } from '@testing-library/svelte/vite'
import { configDefaults, defineConfig } from 'vitest/config'

/** Test files that build network namespaces and run real mDNS in them. */
const NETNS_TESTS = ['test/lab/**/*.test.ts', 'test/libp2p/mdns.test.ts']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real-network tests start processes and libp2p nodes: keep the file-level parallelism low on 2 cores.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'node', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/ui/**', ...NETNS_TESTS] },
      },
      {
        // Whole agents in network namespaces with real mDNS: timing-sensitive, so they run on their
        // own, one file at a time, after the rest (`npm test` runs this project second).
        extends: true,
        test: { name: 'netns', include: NETNS_TESTS, fileParallelism: false },
      },
      {
        // Renderer state classes (.svelte.ts) and components: compiled by the Svelte plugin, run in
        // happy-dom with the browser build of Svelte. Kept apart so Node tests keep Node resolution.
        extends: true,
        plugins: [svelte({ configFile: false }), svelteTesting()],
        test: { name: 'ui', include: ['test/ui/**/*.test.ts'], environment: 'happy-dom' },
      },
    ],
  },
})
