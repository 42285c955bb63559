import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real-network tests start processes and libp2p nodes: keep the file-level parallelism low on 2 cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
