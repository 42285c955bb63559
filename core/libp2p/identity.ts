// The node's long-lived identity: an Ed25519 key kept in the data dir. The PeerId derives from
// it, and because an Ed25519 PeerId embeds the public key, anyone can check our signatures
// from the id alone. Signing and verifying use node:crypto directly so they are synchronous
// (@libp2p/crypto types both as `T | Promise<T>`).

import './polyfill.js'
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { selfStatement } from '../protocol/auth.js'
import type { Authenticator, MemberRecord } from '../protocol/types.js'

export type { PrivateKey } from '@libp2p/interface'

/** The key file exists but cannot be used. Never answered by making a new identity: that would silently change who we are. */
export class IdentityError extends Error {
  override name = 'IdentityError'
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`identity key file ${path}: ${message}`, options)
  }
}

export interface Identity {
  privateKey: PrivateKey
  peerId: string
  /** True when no key file existed and a new key was written. */
  created: boolean
}

/** privateKeyToProtobuf of an Ed25519 key: 4 bytes of protobuf framing + 64 key bytes. */
const ED25519_PROTOBUF_BYTES = 68
/** Anything larger is not one of our key files; refuse before parsing. */
const MAX_KEY_FILE_BYTES = 4096

export async function loadOrCreateIdentity(keyFile: string): Promise<Identity> {
  let bytes: Uint8Array | undefined
  try {
    const handle = await open(keyFile, 'r')
    try {
      const size = (await handle.stat()).size
      if (size > MAX_KEY_FILE_BYTES) throw new IdentityError(keyFile, `too large (${size} bytes) to be a key file`)
      bytes = new Uint8Array(await handle.readFile())
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof IdentityError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') throw new IdentityError(keyFile, `cannot be read (${errCode(err)})`, { cause: err })
  }

  if (bytes !== undefined) {
    const privateKey = parseKey(keyFile, bytes)
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: false }
  }

  const privateKey = await generateKeyPair('Ed25519')
  if (!(await writeKeyFileExclusive(keyFile, privateKeyToProtobuf(privateKey)))) {
    // Another process created the key between our read and write: that one is our identity.
    const existing = parseKey(keyFile, new Uint8Array(await readFile(keyFile)))
    return { privateKey: existing, peerId: peerIdFromPrivateKey(existing).toString(), created: false }
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: true }
}

function parseKey(keyFile: string, bytes: Uint8Array): PrivateKey {
  if (bytes.byteLength === 0) throw new IdentityError(keyFile, 'is empty')
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(keyFile, `is not a libp2p private key (${(err as Error).message})`, { cause: err })
  }
  if (key.type !== 'Ed25519') throw new IdentityError(keyFile, `holds a ${key.type} key; Rollcall needs Ed25519`)
  if (bytes.byteLength !== ED25519_PROTOBUF_BYTES) throw new IdentityError(keyFile, `has ${bytes.byteLength} bytes, expected ${ED25519_PROTOBUF_BYTES}`)
  // The stored public half must match the private half, or signatures would not verify against our PeerId.
  const probe = new TextEncoder().encode('rollcall/identity-check')
  if (!cryptoVerify(null, probe, publicKeyObject(key.publicKey.raw), cryptoSign(null, probe, privateKeyObject(key)))) {
    throw new IdentityError(keyFile, 'private and public halves of the key do not match')
  }
  return key
}

/**
 * Write via a temp file so a crash never leaves a half-written key; 0600 because it is a secret.
 * The temp file is hard-linked into place, which fails if the key appeared meanwhile (two
 * processes starting at once must not end up with different identities); rename is the
 * fallback on filesystems without hard links. Returns false if the file already existed.
 */
async function writeKeyFileExclusive(keyFile: string, bytes: Uint8Array): Promise<boolean> {
  const dir = dirname(keyFile)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new IdentityError(keyFile, `cannot create directory ${dir} (${errCode(err)})`, { cause: err })
  }
  const tmp = join(dir, `.${basename(keyFile)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await link(tmp, keyFile)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err
      await rename(tmp, keyFile)
    }
    return true
  } catch (err) {
    throw new IdentityError(keyFile, `cannot be written (${errCode(err)})`, { cause: err })
  } finally {
    await unlink(tmp).catch(() => undefined)
  }
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err)
}

// ---------------------------------------------------------------------------------------------
// Signatures

function privateKeyObject(key: PrivateKey): KeyObject {
  if (key.type !== 'Ed25519') throw new TypeError(`expected an Ed25519 key, got ${key.type}`)
  // raw = 32-byte seed followed by the 32-byte public key
  const raw = key.raw
  return createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(key.publicKey.raw).toString('base64url') },
  })
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') } })
}

const signingKeys = new WeakMap<PrivateKey, KeyObject>()

/** Ed25519 signature (64 bytes) over `bytes`. */
export function signBytes(privateKey: PrivateKey, bytes: Uint8Array): Uint8Array {
  let keyObject = signingKeys.get(privateKey)
  if (keyObject === undefined) {
    keyObject = privateKeyObject(privateKey)
    signingKeys.set(privateKey, keyObject)
  }
  return new Uint8Array(cryptoSign(null, bytes, keyObject))
}

/** Parsed public keys by peer id; bounded because ids come from the network. */
const MAX_CACHED_PUBLIC_KEYS = 1024
const publicKeys = new Map<string, KeyObject | null>()

function publicKeyForPeerId(peerId: string): KeyObject | null {
  const cached = publicKeys.get(peerId)
  if (cached !== undefined) return cached
  let keyObject: KeyObject | null = null
  try {
    const id = peerIdFromString(peerId)
    if (id.type === 'Ed25519') keyObject = publicKeyObject(id.publicKey.raw)
  } catch {
    keyObject = null
  }
  if (publicKeys.size >= MAX_CACHED_PUBLIC_KEYS) publicKeys.delete(publicKeys.keys().next().value as string)
  publicKeys.set(peerId, keyObject)
  return keyObject
}

/** True iff `sig` is peerId's Ed25519 signature over `bytes`. False (never throws) for malformed ids or sigs. */
export function verifyWithPeerId(peerId: string, bytes: Uint8Array, sig: Uint8Array): boolean {
  if (sig.byteLength !== 64) return false
  const keyObject = publicKeyForPeerId(peerId)
  if (keyObject === null) return false
  try {
    return cryptoVerify(null, bytes, keyObject, sig)
  } catch {
    return false
  }
}

/** Verification results kept: a sync carries every member's record, so the same sigs recur each period. */
const MAX_CACHED_VERIFICATIONS = 4096

/**
 * Signs our own self-statements and verifies anyone's against the key inside their PeerId.
 * The cache key hashes the whole statement (not only id+incarnation+status+sig): a record with
 * altered meta but a copied sig must miss the cache and fail verification.
 */
export function createEd25519Authenticator(selfId: string, privateKey: PrivateKey): Authenticator {
  const ownId = peerIdFromPrivateKey(privateKey).toString()
  if (ownId !== selfId) throw new TypeError(`selfId ${selfId} does not match the private key's peer id ${ownId}`)
  const encoder = new TextEncoder()
  const results = new Map<string, boolean>()

  return {
    sign(rec: MemberRecord): string | undefined {
      if (rec.id !== selfId) return undefined
      return Buffer.from(signBytes(privateKey, encoder.encode(selfStatement(rec)))).toString('base64url')
    },
    verify(rec: MemberRecord): boolean {
      if (rec.sig === undefined) return false
      const statement = selfStatement(rec)
      const key = createHash('sha256').update(statement).update('\n').update(rec.sig).digest('base64url')
      const hit = results.get(key)
      if (hit !== undefined) return hit
      const sig = Buffer.from(rec.sig, 'base64url')
      const ok = verifyWithPeerId(rec.id, encoder.encode(statement), sig)
      if (results.size >= MAX_CACHED_VERIFICATIONS) results.delete(results.keys().next().value as string)
      results.set(key, ok)
      return ok
    },
  }
}
