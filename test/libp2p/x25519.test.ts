// core/libp2p/x25519.ts: noise's X25519 with cached private KeyObjects. The shared key must be the
// one noise's own default crypto computes, whichever side generated which key.
import '../../core/libp2p/polyfill.js'
import { afterEach, describe, expect, it } from 'vitest'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { Uint8ArrayList } from 'uint8arraylist'
import { x25519Crypto, x25519Stats } from '../../core/libp2p/x25519.js'
import { ping, sleep, waitFor, Fleet, introduce } from './helpers.js'

type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[1]
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
