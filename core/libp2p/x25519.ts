// Noise's X25519 on Node's crypto without parsing a DER key for every Diffie-Hellman.
//
// @chainsafe/libp2p-noise's Node crypto wraps each raw key in DER and has OpenSSL parse it, for
// every one of the three Diffie-Hellmans of a handshake: createPrivateKey from PKCS#8 takes ~310 µs
// here, createPublicKey from SPKI ~70 µs, the Diffie-Hellman itself ~30 µs. In CPU profiles of
// agents forming a group (4 of 20 in namespaces) those two parses were 7.4 % of all busy time, the
// Diffie-Hellmans 0.4 %. Here the private keys this process generates keep their KeyObject (a
// handshake uses only those), and public keys are imported as JWK (~6 µs; the raw key, no parser).
// A private key we did not generate (none today) goes the old way. Everything else is noise's own
// default crypto (ChaCha20-Poly1305, SHA-256, HKDF).
//
// Generated keys are exported as DER, never as JWK: that is a deadlock in Node 20. A JWK export
// (ExportJWKEdKey) holds the key's mutex while it creates the JavaScript strings; if one of those
// allocations starts a garbage collection, V8 may run the weak callback of the key-generation job
// that made this very key (generateKeyPairSync leaves it to the collector), and its destructor
// (~KeyPairGenConfig) takes the same mutex: the thread waits on itself for ever, in state S with no
// CPU. Seen in the fault lab as agents that stopped in a handshake and never spoke again (gdb:
// futex_wait < ~KeyGenJob < InvokeFirstPassWeakCallbacks < … < ExportJWKEdKey < generateX25519KeyPair;
// twice in one bench run, at N = 20 and 40). The agent's 1 MiB young generation makes collections
// frequent, hence likely there; --gc-interval reproduces it within a few thousand key pairs
// (test/libp2p/x25519.test.ts). A DER export writes through a BIO with no lock held.
import crypto, { type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

const PKCS8_PREFIX_BYTES = 16 // DER header before the 32 key bytes of an X25519 PKCS#8 key
const SPKI_PREFIX_BYTES = 12 // DER header before the 32 key bytes of an X25519 SubjectPublicKeyInfo
const KEY_BYTES = 32

/** The KeyObject of each private key generated here, by the bytes handed to noise. */
const privateKeyObjects = new WeakMap<Uint8Array, KeyObject>()

/** Counts, for tests and profiles: Diffie-Hellmans whose private key was found, and not. */
export const x25519Stats = { cachedPrivateKey: 0, parsedPrivateKey: 0 }

type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[1]

function bytes(data: KeyBytes): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

export const x25519Crypto: ICryptoInterface = {
  ...defaultCrypto,

  generateX25519KeyPair() {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519')
    const priv = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX_BYTES))
    const pub = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX_BYTES))
    if (priv.byteLength !== KEY_BYTES || pub.byteLength !== KEY_BYTES) throw new Error('x25519: unexpected key length from node:crypto')
    privateKeyObjects.set(priv, privateKey)
    return { publicKey: pub, privateKey: priv }
  },

  generateX25519SharedKey(privateKey, publicKey) {
    const priv = privateKey instanceof Uint8Array ? privateKeyObjects.get(privateKey) : undefined
    if (priv === undefined) {
      x25519Stats.parsedPrivateKey++
      return defaultCrypto.generateX25519SharedKey(privateKey, publicKey)
    }
    x25519Stats.cachedPrivateKey++
    const pub = bytes(publicKey)
    // A wrong length gets the same refusal from node:crypto as the DER path gave.
    const pubKey = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('base64url') }, format: 'jwk' })
    return crypto.diffieHellman({ privateKey: priv, publicKey: pubKey })
  },
}
