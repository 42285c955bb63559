import { describe, expect, it } from 'vitest'
import { explainEvidence } from '../../core/protocol/explain.js'

const names: Record<string, string> = { p7: 'lab-07', p2: 'lab-02', p11: 'lab-11', p3: 'lab-03' }
const nameOf = (id: string) => names[id] ?? id

describe('explainEvidence', () => {
  it('explains a failure from timeouts in plain words', () => {
    const s = explainEvidence({
      rule: 'suspicion-timeout', observer: 'p7', atMs: 0, timeoutMs: 4000, confirmations: ['p7', 'p3'],
      probes: [
        { by: 'p7', outcome: 'timeout', atMs: 0 },
        { by: 'p7', via: 'p2', outcome: 'timeout', atMs: 0 },
        { by: 'p7', via: 'p11', outcome: 'timeout', atMs: 0 },
      ],
    }, nameOf)
    expect(s).toBe('declared failed by lab-07; direct probe from lab-07 timed out; indirect probes via lab-02 and lab-11 timed out; suspicion timeout 4.0 s expired without a refutation; 2 members suspected it independently (lab-07 and lab-03)')
  })

  it('names a refused connection as strong evidence and where we heard it', () => {
    const s = explainEvidence({ rule: 'connection-refused', observer: 'p7', source: 'p3', atMs: 0, probes: [{ by: 'p7', outcome: 'refused', atMs: 0 }] }, nameOf)
    expect(s).toContain('connection refused (strong evidence) (heard from lab-03)')
    expect(s).toContain('direct probe from lab-07 was refused')
  })

  it('handles missing evidence', () => {
    expect(explainEvidence(undefined)).toBe('no evidence recorded')
  })
})
