import { describe, expect, it } from 'vitest'
import { parseArgs, parseTag, parseTags, type Spec, UsageError } from '../../core/cli/args.js'

const spec = {
  command: 'rollcall agent',
  flags: {
    name: { kind: 'string' },
    profile: { kind: 'string', choices: ['lan', 'local'], default: 'lan' },
    tag: { kind: 'list' },
    join: { kind: 'list', default: ['seed-1'] },
    mdns: { kind: 'boolean', default: true },
    json: { kind: 'boolean' },
    help: { kind: 'boolean', short: 'h' },
  },
  positionals: [{ name: 'group' }],
} as const satisfies Spec

describe('parseArgs', () => {
  it('applies defaults when nothing is given', () => {
    expect(parseArgs([], spec)).toEqual({
      flags: { name: undefined, profile: 'lan', tag: [], join: ['seed-1'], mdns: true, json: false, help: false },
      positionals: [],
    })
  })

  it.each<[string[], Record<string, unknown>, string[]]>([
    [['--name', 'lab-01'], { name: 'lab-01' }, []],
    [['--name=lab-01'], { name: 'lab-01' }, []],
    [['--name=a=b'], { name: 'a=b' }, []],
    [['--name='], { name: '' }, []],
    [['--name=-x'], { name: '-x' }, []],
    [['--profile', 'local'], { profile: 'local' }, []],
    [['--tag', 'a=1', '--tag=b=2'], { tag: ['a=1', 'b=2'] }, []],
    [['--join', 'x'], { join: ['x'] }, []],
    [['--no-mdns'], { mdns: false }, []],
    [['--mdns'], { mdns: true }, []],
    [['--json'], { json: true }, []],
    [['-h'], { help: true }, []],
    [['g1', '--json'], { json: true }, ['g1']],
    [['--', '--json'], { json: false }, ['--json']],
    [['-'], {}, ['-']],
  ])('parses %j', (argv, flags, positionals) => {
    const got = parseArgs(argv, spec)
    expect(got.flags).toMatchObject(flags)
    expect(got.positionals).toEqual(positionals)
  })

  it.each<[string[], string]>([
    [['--foo'], 'unknown flag --foo (see rollcall agent --help)'],
    [['--nmae', 'x'], 'unknown flag --nmae; did you mean --name? (see rollcall agent --help)'],
    [['-x'], 'unknown flag -x (see rollcall agent --help)'],
    [['--no-json'], 'unknown flag --no-json (see rollcall agent --help)'],
    [['--name'], 'flag --name needs a value (--name=<value> if it starts with -) (see rollcall agent --help)'],
    [['--name', '--json'], 'flag --name needs a value (--name=<value> if it starts with -) (see rollcall agent --help)'],
    [['--name', 'a', '--name', 'b'], 'flag --name given twice (see rollcall agent --help)'],
    [['--profile', 'wan'], '--profile must be one of lan, local, got "wan" (see rollcall agent --help)'],
    [['--json=yes'], 'flag --json takes no value (see rollcall agent --help)'],
    [['--mdns=false'], 'flag --mdns takes no value (use --no-mdns to turn it off) (see rollcall agent --help)'],
    [['a', 'b'], 'unexpected argument "b" (see rollcall agent --help)'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv, spec)).toThrow(UsageError)
    expect(() => parseArgs(argv, spec)).toThrow(message)
  })

  it('checks required and variadic positionals', () => {
    const s = { flags: {}, positionals: [{ name: 'cmd', required: true }, { name: 'files', variadic: true }] } as const satisfies Spec
    expect(() => parseArgs([], s)).toThrow('missing <cmd> (see rollcall --help)')
    expect(parseArgs(['x', 'a', 'b'], s).positionals).toEqual(['x', 'a', 'b'])
  })

  it('does not treat prototype names as flags', () => {
    expect(() => parseArgs(['--constructor'], spec)).toThrow('unknown flag --constructor')
    expect(() => parseArgs(['--__proto__=x'], spec)).toThrow(UsageError)
  })
})

describe('parseTag', () => {
  it.each([
    ['room=B12', { key: 'room', value: 'B12' }],
    ['seat=', { key: 'seat', value: '' }],
    ['k=a=b', { key: 'k', value: 'a=b' }],
    ['a.b-c_d=x', { key: 'a.b-c_d', value: 'x' }],
    [`k=${'é'.repeat(128)}`, { key: 'k', value: 'é'.repeat(128) }],
  ])('parses %j', (text, expected) => {
    expect(parseTag(text)).toEqual(expected)
  })

  it.each([
    ['novalue', /must look like key=value/],
    ['=x', /tag key "" must be/],
    ['a b=x', /tag key "a b" must be/],
    [`${'k'.repeat(33)}=x`, /must be 1 to 32 characters/],
    [`k=${'v'.repeat(129)}`, /longer than 128 characters/],
    ['k=a\nb', /control characters/],
  ])('rejects %j', (text, message) => {
    expect(() => parseTag(text)).toThrow(UsageError)
    expect(() => parseTag(text)).toThrow(message)
  })
})

describe('parseTags', () => {
  it('builds a record, rejecting duplicates and oversized totals', () => {
    expect(parseTags(['room=B12', 'seat=4'])).toEqual({ room: 'B12', seat: '4' })
    expect(Object.keys(parseTags(['__proto__=x']))).toEqual(['__proto__'])
    expect(() => parseTags(['a=1', 'a=2'])).toThrow('tag a given twice')
    const big = Array.from({ length: 5 }, (_, i) => `k${i}=${'v'.repeat(120)}`)
    expect(() => parseTags(big)).toThrow(/at most 512 allowed/)
  })
})
