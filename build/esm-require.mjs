// An ES module bundle that holds CommonJS packages needs a `require` of its own: esbuild's banner.
export const esmRequireBanner = { js: "import { createRequire as __rcCreateRequire } from 'node:module'; const require = __rcCreateRequire(import.meta.url);" }
