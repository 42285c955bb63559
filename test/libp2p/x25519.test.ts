// core/libp2p/x25519.ts: noise's X25519 with cached private KeyObjects. The shared key must be the
// one noise's own default crypto computes, whichever side generated which key.
import '../../core/libp2p/polyfill.js'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { Uint8ArrayList } from 'uint8arraylist'
import { x25519Crypto, x25519Stats } from '../../core/libp2p/x25519.js'
import { ping, sleep, waitFor, Fleet, introduce } from './helpers.js'

type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[1]
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const keygenLoop = path.join(root, 'test/libp2p/fixtures/x25519-keygen-loop.ts')
const KEYGEN_PAIRS = 6000
const KEYGEN_MAX_MS = 60_000
const KEYGEN_GC_INTERVALS = [40, 50, 70, 100, 128]

/** Runs the key generation loop in a child under the agent's young-generation flag and --gc-interval. */
async function keygenChild(gcInterval: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; last: string | undefined; err: string }> {
  const child = spawn(process.execPath, ['--max-semi-space-size=1', `--gc-interval=${gcInterval}`, '--import', 'tsx', keygenLoop, String(KEYGEN_PAIRS)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-2000)))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-2000)))
  const killer = setTimeout(() => child.kill('SIGKILL'), KEYGEN_MAX_MS)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  return { code, signal, last: out.trim().split('\n').at(-1), err }
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('x25519Crypto', () => {
  it('computes the same shared key as noise default crypto, with keys from either', () => {
    for (let i = 0; i < 20; i++) {
      const ours = x25519Crypto.generateX25519KeyPair()
      const theirs = defaultCrypto.generateX25519KeyPair()
      expect(ours.privateKey.byteLength).toBe(32)
      expect(ours.publicKey.byteLength).toBe(32)
      const before = { ...x25519Stats }
      const a = x25519Crypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)
      expect(x25519Stats.cachedPrivateKey).toBe(before.cachedPrivateKey + 1)
      const b = defaultCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey)
      const c = defaultCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)
      expect(hex(a)).toBe(hex(b))
      expect(hex(a)).toBe(hex(c))
      expect(a.byteLength).toBe(32)
    }
  })

  it('takes the public key as a Uint8ArrayList too, and a private key it did not generate the old way', () => {
    const ours = x25519Crypto.generateX25519KeyPair()
    const theirs = defaultCrypto.generateX25519KeyPair()
    const expected = hex(defaultCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey))
    const list = new Uint8ArrayList(theirs.publicKey.subarray(0, 10), theirs.publicKey.subarray(10)) as unknown as KeyBytes
    expect(hex(x25519Crypto.generateX25519SharedKey(ours.privateKey, list))).toBe(expected)

    const parsed = x25519Stats.parsedPrivateKey
    const copy = new Uint8Array(ours.privateKey) // same bytes, not the generated object
    expect(hex(x25519Crypto.generateX25519SharedKey(copy, theirs.publicKey))).toBe(expected)
    expect(x25519Stats.parsedPrivateKey).toBe(parsed + 1)
  })

  it('refuses a public key of the wrong length, as the default does', () => {
    const ours = x25519Crypto.generateX25519KeyPair()
    expect(() => defaultCrypto.generateX25519SharedKey(ours.privateKey, new Uint8Array(31))).toThrow()
    expect(() => x25519Crypto.generateX25519SharedKey(ours.privateKey, new Uint8Array(31))).toThrow()
    expect(() => x25519Crypto.generateX25519SharedKey(ours.privateKey, new Uint8Array(33))).toThrow()
  })

  it('keeps generating key pairs while garbage is collected inside the key exports (the Node 20 deadlock)', async () => {
    // --gc-interval collects every few dozen allocations, so collections land inside the exports.
    // With the public key exported as JWK (the code before) one such child in two or three hung
    // within 6,000 key pairs, state S, no CPU, and this test with three of the intervals failed in 3
    // of 4 runs (checked by hand); hence five at once. Bounded: 6,000 pairs each, killed after 60 s.
    const runs = await Promise.all(KEYGEN_GC_INTERVALS.map((gcInterval) => keygenChild(gcInterval)))
    for (const [i, run] of runs.entries()) {
      expect({ gcInterval: KEYGEN_GC_INTERVALS[i], ...run }).toEqual({ gcInterval: KEYGEN_GC_INTERVALS[i], code: 0, signal: null, last: `done ${KEYGEN_PAIRS}`, err: '' })
    }
  }, KEYGEN_MAX_MS + 10_000)
})

describe('x25519Crypto in real handshakes', () => {
  const fleet = new Fleet()
  afterEach(async () => {
    await fleet.stopAll()
  })

  it('carries the Noise handshakes of two transports, every Diffie-Hellman with a cached key', async () => {
    const before = { ...x25519Stats }
    const a = await fleet.node()
    const b = await fleet.node()
    introduce(a, b)
    a.t.send(b.t.peerId, ping(1))
    await waitFor('ping at b', () => b.rec.messages.some((m) => m.msg.type === 'ping'))
    await sleep(50)
    // One handshake, three Diffie-Hellmans on each side.
    expect(x25519Stats.cachedPrivateKey - before.cachedPrivateKey).toBeGreaterThanOrEqual(6)
    expect(x25519Stats.parsedPrivateKey).toBe(before.parsedPrivateKey)
  })
})
