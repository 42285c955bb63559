// Big runs need more heap than V8 gives by default: 10,000 nodes each holding 10,000 members
// is 100M protocol table entries. The CLI and the benchmark re-run themselves in a child with a
// bigger heap (capped by the machine's RAM), so no one has to remember NODE_OPTIONS.

import { spawnSync } from 'node:child_process'
import os from 'node:os'
import v8 from 'node:v8'

/** Heap per view entry: measured ≈ 125 B live at 10,000 nodes (table entry, Map slot, probe-order slot), plus slack. */
const BYTES_PER_VIEW_ENTRY = 200
/**
 * What the old generation starts sized for: about the live views (≈ 120 B per entry), so the
 * first major GCs do not come while the views are being built. Not more: V8 puts off major GCs
 * until the old generation reaches its initial size, and garbage piling up to the full `need`
 * outgrew the machine's free memory in a 10,000-node run with faults.
 */
const INITIAL_BYTES_PER_VIEW_ENTRY = 120
const BASE_HEAP_MB = 512
/** Set in the child so a re-executed process never re-executes again. */
const REEXEC_ENV = 'ROLLCALL_SIM_HEAP_REEXEC'

/** Rough heap a run of `members` members needs, in MB. */
export function heapNeedMB(members: number): number {
  return Math.ceil((members * members * BYTES_PER_VIEW_ENTRY) / 2 ** 20 + BASE_HEAP_MB)
}

/**
 * When `needMB` is beyond this process's heap limit, run this same script again with a bigger
 * heap and return the child's exit code; otherwise return undefined (go on here).
 */
export function reexecWithHeap(needMB: number, args: string[], say: (line: string) => void): number | undefined {
  if (process.env[REEXEC_ENV]) return undefined
  const limit = v8.getHeapStatistics().heap_size_limit / 2 ** 20
  if (needMB <= 0.9 * limit) return undefined
  const mb = Math.min(Math.floor((0.9 * os.totalmem()) / 2 ** 20), Math.ceil(1.3 * needMB))
  say(`needs about ${needMB} MB of heap (limit ${Math.round(limit)} MB): running again with --max-old-space-size=${mb}`)
  // A big young generation and a pre-sized old one: building full views allocates ~N² long-lived
  // entries, and these flags cut the garbage collector's share of that by about a third (measured).
  const initial = Math.ceil((needMB - BASE_HEAP_MB) * (INITIAL_BYTES_PER_VIEW_ENTRY / BYTES_PER_VIEW_ENTRY))
  const flags = [`--max-old-space-size=${mb}`, '--max-semi-space-size=128', `--initial-old-space-size=${Math.min(mb, initial)}`]
  const r = spawnSync(process.execPath, [...process.execArgv, ...flags, process.argv[1], ...args], {
    stdio: 'inherit', env: { ...process.env, [REEXEC_ENV]: '1' },
  })
  return r.status ?? 1
}
