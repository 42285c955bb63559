import { describe, expect, it } from 'vitest'
import {
  LAN_PROFILE, LOCAL_PROFILE, InvalidConfigError, expectedConfirmations, failureDetectionBoundMs, nodeScale,
  resolveConfig, scaledTimeoutMs, suspicionMaxMs, suspicionMinMs, suspicionTimeoutMs,
} from '../../core/protocol/config.js'
import { compareClaims, mustRefute, needsSelfProof, refutationIncarnation, startIncarnation, digestClass } from '../../core/protocol/rules.js'

describe('nodeScale', () => {
  it.each([
    [0, 1], [1, 1], [5, 1], [10, 1], [100, 2], [1000, 3], [10_000, 4],
  ])('N=%i → %f', (n, want) => expect(nodeScale(n)).toBeCloseTo(want, 9))
})

describe('suspicion timeouts (memberlist formula)', () => {
  it.each([
    // N, min (ms), max (ms) for the lan profile: 4 × max(1, log10 N) × 1000, ×4
    [3, 4000, 16000], [10, 4000, 16000], [100, 8000, 32000], [1000, 12000, 48000],
  ])('lan N=%i: min %i max %i', (n, min, max) => {
    expect(suspicionMinMs(LAN_PROFILE, n)).toBeCloseTo(min, 6)
    expect(suspicionMaxMs(LAN_PROFILE, n)).toBeCloseTo(max, 6)
  })

  it.each([
    // confirmations C, expected K → timeout between min=1000 and max=4000
    [0, 2, 4000], [1, 2, 2107], [2, 2, 1000], [5, 2, 1000], [0, 0, 1000],
  ])('decays with confirmations: C=%i K=%i → %i', (c, k, want) => {
    expect(suspicionTimeoutMs(1000, 4000, c, k)).toBe(want)
  })

  it('expects suspicionMult − 2 confirmations, none in tiny groups', () => {
    expect(expectedConfirmations(LAN_PROFILE, 10)).toBe(2)
    expect(expectedConfirmations(LAN_PROFILE, 3)).toBe(0)
    expect(expectedConfirmations({ ...LAN_PROFILE, suspicionMult: 1 }, 10)).toBe(0)
  })

  it('scales timeouts by local health', () => {
    expect(scaledTimeoutMs(500, 0)).toBe(500)
    expect(scaledTimeoutMs(500, 3)).toBe(2000)
  })

  it('bounds detection: worst-case probe wait + one round + unconfirmed suspicion', () => {
    expect(failureDetectionBoundMs(LOCAL_PROFILE, 10)).toBe(300 * 9 + 300 + 4 * 300 * 4)
  })
})

describe('resolveConfig', () => {
  it('accepts overrides of known fields', () => {
    expect(resolveConfig(LAN_PROFILE, { probeIntervalMs: 2000 }).probeIntervalMs).toBe(2000)
  })
  it.each([
    [{ probeIntervalMs: -1 }, /probeIntervalMs/],
    [{ probeTimeoutMs: 5000 }, /probeTimeoutMs/],
    [{ suspicionMult: Number.NaN }, /suspicionMult/],
    [{ bogusMs: 1 } as never, /unknown config field: bogusMs/],
    [{ indirectChecks: 2.5 }, /indirectChecks/],
  ])('rejects %j', (over, msg) => {
    expect(() => resolveConfig(LAN_PROFILE, over)).toThrow(InvalidConfigError)
    expect(() => resolveConfig(LAN_PROFILE, over)).toThrow(msg)
  })
})

describe('compareClaims (precedence)', () => {
  it.each([
    // known, incoming, verdict
    [[1, 'alive'], [2, 'alive'], 'newer'],
    [[2, 'alive'], [1, 'failed'], 'older'],
    [[1, 'alive'], [1, 'suspect'], 'newer'],
    [[1, 'suspect'], [1, 'alive'], 'older'],
    [[1, 'suspect'], [1, 'failed'], 'newer'],
    [[1, 'failed'], [1, 'left'], 'newer'],
    [[1, 'left'], [1, 'failed'], 'older'],
    [[1, 'left'], [1, 'alive'], 'older'],
    [[1, 'left'], [2, 'alive'], 'newer'],
    [[1, 'failed'], [2, 'alive'], 'newer'],
    [[3, 'suspect'], [3, 'suspect'], 'same'],
  ] as const)('%j vs %j → %s', (k, i, want) => {
    expect(compareClaims({ incarnation: k[0], status: k[1] }, { incarnation: i[0], status: i[1] })).toBe(want)
  })
})

describe('authority rules', () => {
  it.each([
    ['alive', 5, 5, true], ['left', 5, 5, true], ['suspect', 5, 5, false], ['failed', 4, 5, false],
    ['suspect', 6, 5, true], ['failed', 1, undefined, true],
  ] as const)('%s at %i when we know %s needs self proof: %s', (status, inc, known, want) => {
    expect(needsSelfProof({ id: 'x', incarnation: inc, status }, known)).toBe(want)
  })

  it.each([
    [5, 'suspect', 5, true], [5, 'suspect', 4, false], [5, 'failed', 7, true], [5, 'alive', 5, false],
    [5, 'alive', 6, true], [5, 'left', 5, true],
  ] as const)('self at %i must refute %s@%i: %s', (self, status, inc, want) => {
    expect(mustRefute(self, { incarnation: inc, status })).toBe(want)
  })

  it('refutes one above the claim, never going down', () => {
    expect(refutationIncarnation(5, 5)).toBe(6)
    expect(refutationIncarnation(5, 9)).toBe(10)
    expect(refutationIncarnation(12, 3)).toBe(12)
  })

  it.each([
    [undefined, 1_700_000_000, 1_700_000_000],
    [1_700_000_005, 1_700_000_001, 1_700_000_006],
    [41, 1_700_000_000, 1_700_000_000],
  ])('startIncarnation(persisted=%s, wall=%i) = %i', (p, w, want) => {
    expect(startIncarnation(p, w)).toBe(want)
  })

  it('treats suspect as up in the digest', () => {
    expect(digestClass('alive')).toBe(digestClass('suspect'))
    expect(digestClass('failed')).not.toBe(digestClass('left'))
  })
})
