// Command line for the simulator: `npm run sim -- --nodes 100 --seconds 60 --seed 7 --crash 2`.
// Prints a table (or the summary as JSON with --json). Exit codes: 0 all checks passed, 1 a check
// failed or the run broke (the seed and the replay command are printed), 2 bad arguments.

import { pathToFileURL } from 'node:url'
import { parseArgs, UsageError, USAGE, type CliArgs } from './args.js'
import { heapNeedMB, reexecWithHeap } from './heap.js'
import { replayCommand, SimOptionsError } from './options.js'
import { runSimulation } from './sim.js'
import { formatTable } from './summary.js'

function progressBar(start: number, io: Io): (done: number, total: number) => void {
  let last = 0
  return (done, total) => {
    const now = performance.now()
    if (done < total && now - last < 200) return
    last = now
    const width = 30
    const fill = Math.round((width * done) / total)
    const line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(done / 1000).toFixed(1)}/${(total / 1000).toFixed(0)} s virtual  ${((now - start) / 1000).toFixed(1)} s wall`
    io.err(`\r${line}${done >= total ? '\n' : ''}`)
  }
}

export interface Io {
  out: (s: string) => void
  err: (s: string) => void
  /** Is stderr a terminal (then a progress bar is drawn)? */
  tty: boolean
}

const processIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), tty: process.stderr.isTTY === true }

/** Run the CLI; returns the exit code (0 ok, 1 a check failed or the run broke, 2 bad arguments). */
export function main(argv: string[], io: Io = processIo): number {
  let args: CliArgs
  try {
    args = parseArgs(argv)
  } catch (e) {
    if (e instanceof UsageError || e instanceof SimOptionsError) {
      io.err(`rollcall sim: ${e.message}\n`)
      return 2
    }
    throw e
  }
  if (args.help) {
    io.out(USAGE + '\n')
    return 0
  }
  const o = args.options
  if (io === processIo) {
    const need = heapNeedMB(o.nodes + (o.join ?? 0))
    const args = argv.includes('--seed') || argv.some((a) => a.startsWith('--seed=')) ? argv : [...argv, '--seed', String(o.seed)]
    const code = reexecWithHeap(need, args, (line) => io.err(`rollcall sim: ${o.nodes} nodes ${line}\n`))
    if (code !== undefined) return code
  }
  if (args.progress || io.tty) o.onProgress = progressBar(performance.now(), io)
  let summary
  try {
    summary = runSimulation(o)
  } catch (e) {
    if (e instanceof SimOptionsError) {
      io.err(`rollcall sim: ${e.message}\n`)
      return 2
    }
    io.err(`\nrollcall sim: run broke: ${(e as Error).stack ?? e}\nseed ${o.seed}; replay: ${replayCommand(o)}\n`)
    return 1
  }
  io.out((args.json ? JSON.stringify(summary, null, 2) : formatTable(summary)) + '\n')
  if (summary.violations.length > 0) {
    io.err(`rollcall sim: ${summary.violations.length} check(s) failed; seed ${summary.seed}; replay: ${summary.command}\n`)
    return 1
  }
  return 0
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2))
