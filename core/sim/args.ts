// Command-line arguments of the simulator CLI: parsed into SimOptions; the inverse of
// options.ts toArgs (test/sim/primitives.test.ts checks the round trip).

import { PROFILES, type ProfileName, type ProtocolConfig } from '../protocol/config.js'
import { parsePartition, parseRange, parseStall, type SimOptions } from './options.js'

export const USAGE = `usage: npm run sim -- [options]
  --nodes N              nodes present from the start (default 16)
  --seconds S            virtual run length (default 60)
  --seed X               run seed, 0..2^32-1, decimal or 0x hex (default: random, printed)
  --profile local|lan    protocol timings (default local)
  --config KEY=VALUE     override one protocol config field (repeatable)
  --preformed            all nodes start already knowing each other
  --loss P --dup P       per-message loss / duplication probability
  --delay MIN-MAX        one-way link delay range in ms (default 0.5-3)
  --crash K              K nodes crash; their host refuses connections
  --crash-silent K       K nodes' hosts vanish; messages to them disappear
  --stall K:MS           K nodes freeze for MS ms (repeatable)
  --leave K              K nodes leave gracefully
  --restart K            K nodes crash and restart at a higher incarnation
  --join K               K more nodes start late and join through 1-3 seeds
  --partition SPEC       sym|asym|cut [@START_S][+DURATION_S], e.g. sym@12+5 (repeatable)
  --window FROM-TO       faults happen within this fraction of the run (default 0.2-0.6)
  --trace ID             print every event about member ID, and its messages, to stderr (repeatable)
  --json                 print the summary as JSON
  --progress             show progress on stderr even when it is not a terminal`

export class UsageError extends Error {
  override name = 'UsageError'
}

export interface CliArgs {
  options: SimOptions
  json: boolean
  progress: boolean
  help: boolean
}

/** Parse CLI arguments; throws UsageError. Without --seed, picks a random seed (printed with the result). */
export function parseArgs(argv: string[]): CliArgs {
  const o: SimOptions = { seed: -1, nodes: 16, seconds: 60 }
  let json = false
  let progress = false
  let help = false
  const config: Partial<ProtocolConfig> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const eq = arg.indexOf('=')
    const flag = arg.startsWith('--') && eq > 0 && arg !== '--config' ? arg.slice(0, eq) : arg
    const inline = flag !== arg ? arg.slice(eq + 1) : undefined
    const value = (): string => {
      if (inline !== undefined) return inline
      const v = argv[++i]
      if (v === undefined) throw new UsageError(`${flag} needs a value`)
      return v
    }
    const number = (what: string): number => {
      const v = value()
      const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : Number(v)
      if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${what} must be a number, got "${v}"`)
      return n
    }
    const whole = (what: string): number => {
      const n = number(what)
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`${what} must be a whole number ≥ 0, got ${n}`)
      return n
    }
    switch (flag) {
      case '--nodes': o.nodes = whole('--nodes'); break
      case '--seconds': o.seconds = number('--seconds'); break
      case '--seed': o.seed = whole('--seed'); break
      case '--profile': {
        const p = value()
        if (!(p in PROFILES)) throw new UsageError(`--profile must be one of ${Object.keys(PROFILES).join(', ')}, got "${p}"`)
        o.profile = p as ProfileName
        break
      }
      case '--config': {
        const kv = value()
        const m = /^(\w+)=(.+)$/.exec(kv)
        if (!m) throw new UsageError(`--config wants KEY=VALUE, got "${kv}"`)
        if (!(m[1] in PROFILES.local)) throw new UsageError(`--config: unknown field "${m[1]}"`)
        const n = Number(m[2])
        if (!Number.isFinite(n)) throw new UsageError(`--config ${m[1]} must be a number, got "${m[2]}"`)
        ;(config as Record<string, number>)[m[1]] = n
        break
      }
      case '--preformed': o.preformed = true; break
      case '--loss': o.loss = number('--loss'); break
      case '--dup': o.dup = number('--dup'); break
      case '--delay': o.delayMs = parseRange(value(), '--delay'); break
      case '--crash': o.crash = whole('--crash'); break
      case '--crash-silent': o.crashSilent = whole('--crash-silent'); break
      case '--stall': (o.stalls ??= []).push(parseStall(value())); break
      case '--leave': o.leave = whole('--leave'); break
      case '--restart': o.restart = whole('--restart'); break
      case '--join': o.join = whole('--join'); break
      case '--partition': (o.partitions ??= []).push(parsePartition(value())); break
      case '--window': o.faultWindow = parseRange(value(), '--window'); break
      case '--trace': (o.trace ??= []).push(value()); break
      case '--json': json = true; break
      case '--progress': progress = true; break
      case '-h':
      case '--help': help = true; break
      default:
        throw new UsageError(`unknown argument "${arg}" (see --help)`)
    }
  }
  if (Object.keys(config).length) o.config = config
  if (o.seed < 0) o.seed = Math.floor(Math.random() * 2 ** 32) // the shell's one non-seeded choice; printed below
  return { options: o, json, progress, help }
}
