// Vite config of the renderer (Svelte 5). `npm run build:renderer` writes renderer/dist, which the
// agent's dashboard serves and the Electron app loads. Relative base: the same build works under
// http://127.0.0.1:PORT/ and app://rollcall/.
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [svelte({ configFile: false })],
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1000,
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
})
