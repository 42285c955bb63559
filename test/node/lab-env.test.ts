// agentEnv (test/lab/lab.ts): the environment the fault lab and the bench start agents in.
import { execFileSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { agentEnv } from '../lab/lab.js'

const saved = process.env.NODE_EXTRA_CA_CERTS
afterEach(() => {
  if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS
  else process.env.NODE_EXTRA_CA_CERTS = saved
})

describe('agentEnv', () => {
  it('starts agents without NODE_EXTRA_CA_CERTS, which Node parses at every start', () => {
    process.env.NODE_EXTRA_CA_CERTS = '/etc/ssl/certs/ca-certificates.crt'
    const seen = execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(process.env.NODE_EXTRA_CA_CERTS ?? null))'], { env: agentEnv() }).toString()
    expect(seen).toBe('null')
    // The lab's own environment is left as it was.
    expect(process.env.NODE_EXTRA_CA_CERTS).toBe('/etc/ssl/certs/ca-certificates.crt')
  })

  it('keeps the rest of the environment and adds the extras', () => {
    const env = agentEnv({ ROLLCALL_DEBUG_CODE_CACHE: '1' })
    expect(env.PATH).toBe(process.env.PATH)
    expect(env.ROLLCALL_DEBUG_CODE_CACHE).toBe('1')
    expect('NODE_EXTRA_CA_CERTS' in env).toBe(false)
  })
})
