// Types of code-cache.cjs (plain JavaScript, run by bin/rollcall.cjs before anything is compiled).
export declare const MAX_CODE_CACHE_BYTES: number
export declare function codeCacheFile(cacheDir: string, bundleBytes: Uint8Array, flagsKey: string): string
export interface BundleRun {
  /** 'accepted': V8 used the cache; 'rejected': V8 refused it; 'none': there was none; 'off': no cacheDir. */
  cache: 'accepted' | 'rejected' | 'none' | 'off'
  cacheFile: string | undefined
  exports: unknown
  /** Write the cache of everything compiled so far. true when written; never throws. */
  writeCache(): boolean
}
export declare function runBundle(bundlePath: string, options: { cacheDir: string | undefined; flagsKey: string }): BundleRun
