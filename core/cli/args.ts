// A small strict command-line parser. Strict because the CLI runs from scripts on many lab
// machines: a typo must stop with a one-line reason, never be ignored or taken as a value.

import { LIMITS } from '../protocol/config.js'

/** Bad command-line input. The message is one line, meant to be printed as is. */
export class UsageError extends Error {
  override name = 'UsageError'
}

export type FlagKind = 'string' | 'boolean' | 'list'

export interface FlagSpec {
  /** string: `--f v` or `--f=v`, once. boolean: `--f` (and `--no-f` if it defaults to true). list: repeatable. */
  kind: FlagKind
  /** Allowed values (string and list flags). */
  choices?: readonly string[]
  default?: string | boolean | readonly string[]
  /** One-letter alias, e.g. 'h' for -h. No bundling (-abc) and no attached values (-nfoo). */
  short?: string
}

export interface PositionalSpec {
  name: string
  required?: boolean
  /** Takes all remaining arguments; last only. */
  variadic?: boolean
}

export interface Spec {
  /** The command the flags belong to, for messages: "rollcall agent". */
  command?: string
  flags: Readonly<Record<string, FlagSpec>>
  positionals?: readonly PositionalSpec[]
}

type FlagValue<F extends FlagSpec> = F['kind'] extends 'boolean'
  ? boolean
  : F['kind'] extends 'list'
    ? string[]
    : F extends { default: string }
      ? string
      : string | undefined

export interface Parsed<S extends Spec> {
  flags: { -readonly [K in keyof S['flags']]: FlagValue<S['flags'][K]> }
  positionals: string[]
}

/**
 * Parses argv (without node and script) against spec. `--` ends the flags. Throws UsageError for
 * an unknown flag, a missing or unexpected value, a repeated non-list flag, a value outside
 * `choices`, and missing or extra positionals.
 */
export function parseArgs<const S extends Spec>(argv: readonly string[], spec: S): Parsed<S> {
  const see = `(see ${spec.command ?? 'rollcall'} --help)`
  const fail = (msg: string): never => {
    throw new UsageError(`${msg} ${see}`)
  }
  const flags: Record<string, string | boolean | string[] | undefined> = {}
  const shortToName = new Map<string, string>()
  for (const [name, f] of Object.entries(spec.flags)) {
    if (f.short !== undefined) shortToName.set(f.short, name)
    if (f.kind === 'boolean') flags[name] = f.default === undefined ? false : Boolean(f.default)
    else if (f.kind === 'list') flags[name] = Array.isArray(f.default) ? [...(f.default as string[])] : []
    else flags[name] = typeof f.default === 'string' ? f.default : undefined
  }
  const seen = new Set<string>()
  const positionals: string[] = []

  const checkChoice = (name: string, f: FlagSpec, value: string) => {
    if (f.choices && !f.choices.includes(value)) {
      fail(`--${name} must be one of ${f.choices.join(', ')}, got ${JSON.stringify(value)}`)
    }
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    let name: string
    let inline: string | undefined
    let negated = false
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
      inline = eq < 0 ? undefined : arg.slice(eq + 1)
      if (!Object.hasOwn(spec.flags, name) && name.startsWith('no-')) {
        const base = name.slice(3)
        const f = Object.hasOwn(spec.flags, base) ? spec.flags[base] : undefined
        if (f?.kind === 'boolean' && f.default === true) {
          name = base
          negated = true
        }
      }
      if (!Object.hasOwn(spec.flags, name)) fail(`unknown flag --${name}${suggest(name, Object.keys(spec.flags))}`)
    } else {
      const mapped = arg.length === 2 ? shortToName.get(arg[1]) : undefined
      if (mapped === undefined) fail(`unknown flag ${arg}`)
      name = mapped as string
    }
    const f = spec.flags[name]
    if (f.kind === 'boolean') {
      if (inline !== undefined) fail(`flag --${name} takes no value${f.default === true ? ` (use --no-${name} to turn it off)` : ''}`)
      if (seen.has(name)) fail(`flag --${name} given twice`)
      seen.add(name)
      flags[name] = !negated
      continue
    }
    if (negated) fail(`unknown flag --no-${name}`)
    let value = inline
    if (value === undefined) {
      const next = argv[i + 1]
      // A following flag is not a value: `--name --join x` means the value was forgotten.
      if (next === undefined || (next.startsWith('-') && next !== '-')) fail(`flag --${name} needs a value (--${name}=<value> if it starts with -)`)
      value = next
      i++
    }
    checkChoice(name, f, value as string)
    if (f.kind === 'list') {
      if (!seen.has(name)) flags[name] = [] // given values replace the default
      seen.add(name)
      ;(flags[name] as string[]).push(value as string)
    } else {
      if (seen.has(name)) fail(`flag --${name} given twice`)
      seen.add(name)
      flags[name] = value
    }
  }

  const specs = spec.positionals ?? []
  const variadic = specs.length > 0 && specs[specs.length - 1].variadic === true
  for (let i = 0; i < specs.length; i++) {
    if (specs[i].required && positionals.length <= i) fail(`missing <${specs[i].name}>`)
  }
  if (!variadic && positionals.length > specs.length) fail(`unexpected argument ${JSON.stringify(positionals[specs.length])}`)
  return { flags, positionals } as Parsed<S>
}

/** " (did you mean --x?)" for a near miss (edit distance ≤ 2), else "". */
function suggest(name: string, known: string[]): string {
  let best: string | undefined
  let bestDist = 3
  for (const k of known) {
    const d = editDistance(name, k)
    if (d < bestDist) {
      best = k
      bestDist = d
    }
  }
  return best === undefined ? '' : `; did you mean --${best}?`
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return 3
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}

export const TAG_KEY_RE = /^[A-Za-z0-9_.-]{1,32}$/
export const MAX_TAG_VALUE_CHARS = 128

/** Parses "key=value" (`--tag room=B12`). The value may contain "=" and may be empty. */
export function parseTag(text: string): { key: string; value: string } {
  const eq = text.indexOf('=')
  if (eq < 0) throw new UsageError(`tag ${JSON.stringify(text)} must look like key=value`)
  const key = text.slice(0, eq)
  const value = text.slice(eq + 1)
  if (!TAG_KEY_RE.test(key)) {
    throw new UsageError(`tag key ${JSON.stringify(key)} must be 1 to 32 characters of A-Z a-z 0-9 _ . -`)
  }
  // Code points, not UTF-16 units, so a room name in any script gets the same allowance.
  if ([...value].length > MAX_TAG_VALUE_CHARS) throw new UsageError(`tag ${key}: value longer than ${MAX_TAG_VALUE_CHARS} characters`)
  // Control characters would garble terminals and logs on every machine that shows the tag.
  if (/\p{Cc}/u.test(value)) throw new UsageError(`tag ${key}: value contains control characters`)
  return { key, value }
}

/** Parses repeated --tag values; rejects duplicate keys and tags over LIMITS.tagsBytes (JSON) in total. */
export function parseTags(texts: readonly string[]): Record<string, string> {
  const seen = new Map<string, string>()
  for (const text of texts) {
    const { key, value } = parseTag(text)
    if (seen.has(key)) throw new UsageError(`tag ${key} given twice`)
    seen.set(key, value)
  }
  // fromEntries defines own properties, so a key like "__proto__" stays a plain tag.
  const tags = Object.fromEntries(seen)
  const bytes = Buffer.byteLength(JSON.stringify(tags))
  if (bytes > LIMITS.tagsBytes) throw new UsageError(`tags take ${bytes} bytes as JSON, at most ${LIMITS.tagsBytes} allowed`)
  return tags
}
