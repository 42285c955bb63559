import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { createEd25519Authenticator, IdentityError, loadOrCreateIdentity, signBytes, verifyWithPeerId } from '../../core/libp2p/identity.js'
import type { MemberRecord } from '../../core/protocol/types.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rc-identity-'))
})
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
})

describe('loadOrCreateIdentity', () => {
  it('creates a key once and loads the same peer id on reload', async () => {
    const file = join(dir, 'data', 'identity.key')
    const first = await loadOrCreateIdentity(file)
    expect(first.created).toBe(true)
    expect(first.peerId).toMatch(/^12D3KooW/)
    const second = await loadOrCreateIdentity(file)
    expect(second.created).toBe(false)
    expect(second.peerId).toBe(first.peerId)
    expect((await readFile(file)).byteLength).toBe(68)
  })

  it('writes the key with mode 0600 in a 0700 directory, leaving no temp files', async () => {
    const sub = join(dir, 'fresh')
    const file = join(sub, 'identity.key')
    await loadOrCreateIdentity(file)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(sub)).mode & 0o777).toBe(0o700)
    const { readdir } = await import('node:fs/promises')
    expect(await readdir(sub)).toEqual(['identity.key'])
  })

  it('two concurrent first starts end with one identity', async () => {
    const file = join(dir, 'identity.key')
    const [a, b] = await Promise.all([loadOrCreateIdentity(file), loadOrCreateIdentity(file)])
    expect(a.peerId).toBe(b.peerId)
    expect((await loadOrCreateIdentity(file)).peerId).toBe(a.peerId)
  })

  it.each([
    ['corrupt', new Uint8Array([1, 2, 3, 4, 5, 6, 7])],
    ['empty', new Uint8Array(0)],
    ['truncated', null],
  ])('throws IdentityError naming the path for a %s key file, never a new identity', async (_label, content) => {
    const file = join(dir, 'identity.key')
    if (content === null) {
      const good = privateKeyToProtobuf(await generateKeyPair('Ed25519'))
      await writeFile(file, good.subarray(0, 40))
    } else {
      await writeFile(file, content)
    }
    const before = await readFile(file)
    const err = await loadOrCreateIdentity(file).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityError)
    expect((err as Error).message).toContain(file)
    expect(await readFile(file)).toEqual(before) // untouched
  })

  it('throws IdentityError for a key of the wrong type', async () => {
    const file = join(dir, 'identity.key')
    await writeFile(file, privateKeyToProtobuf(await generateKeyPair('secp256k1')))
    await expect(loadOrCreateIdentity(file)).rejects.toThrow(/secp256k1 key; Rollcall needs Ed25519/)
  })

  it('throws IdentityError when the key file cannot be read', async () => {
    const file = join(dir, 'identity.key')
    await loadOrCreateIdentity(file)
    if (process.getuid?.() === 0) {
      // root reads any file regardless of mode: use a directory in the key's place instead
      await rm(file)
      const { mkdir } = await import('node:fs/promises')
      await mkdir(file)
    } else {
      await chmod(file, 0o000)
    }
    const err = await loadOrCreateIdentity(file).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityError)
    expect((err as Error).message).toMatch(/cannot be read \((EACCES|EISDIR)\)/)
  })
})

function aliveRecord(id: string, incarnation = 1): MemberRecord {
  return { id, incarnation, status: 'alive', meta: { name: 'lab-01', addrs: ['/ip4/10.0.0.1/tcp/4001'], tags: { room: 'b12', seat: '3' } } }
}

describe('signBytes / verifyWithPeerId', () => {
  it('round-trips and rejects tampered data, wrong ids and garbage', async () => {
    const a = await loadOrCreateIdentity(join(dir, 'a.key'))
    const b = await loadOrCreateIdentity(join(dir, 'b.key'))
    const data = new TextEncoder().encode('hello')
    const sig = signBytes(a.privateKey, data)
    expect(sig.byteLength).toBe(64)
    expect(verifyWithPeerId(a.peerId, data, sig)).toBe(true)
    expect(verifyWithPeerId(b.peerId, data, sig)).toBe(false)
    expect(verifyWithPeerId(a.peerId, new TextEncoder().encode('hellO'), sig)).toBe(false)
    expect(verifyWithPeerId('not-a-peer-id', data, sig)).toBe(false)
    expect(verifyWithPeerId(a.peerId, data, sig.subarray(0, 63))).toBe(false)
  })
})

describe('createEd25519Authenticator', () => {
  it('signs only its own records; any node verifies them from the peer id alone', async () => {
    const a = await loadOrCreateIdentity(join(dir, 'a.key'))
    const b = await loadOrCreateIdentity(join(dir, 'b.key'))
    const authA = createEd25519Authenticator(a.peerId, a.privateKey)
    const authB = createEd25519Authenticator(b.peerId, b.privateKey)
    const rec = aliveRecord(a.peerId)
    const sig = authA.sign(rec)
    expect(sig).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(authA.sign(aliveRecord(b.peerId))).toBeUndefined()
    expect(authB.verify({ ...rec, sig })).toBe(true)
    // tag order does not matter: the statement is canonical
    expect(authB.verify({ ...rec, meta: { ...rec.meta!, tags: { seat: '3', room: 'b12' } }, sig })).toBe(true)
    // suspect/failed records carry the member's alive statement and signature
    expect(authB.verify({ ...rec, status: 'suspect', sig })).toBe(true)
  })

  it('rejects a tampered record even after the genuine one was cached', async () => {
    const a = await loadOrCreateIdentity(join(dir, 'a.key'))
    const b = await loadOrCreateIdentity(join(dir, 'b.key'))
    const authA = createEd25519Authenticator(a.peerId, a.privateKey)
    const authB = createEd25519Authenticator(b.peerId, b.privateKey)
    const rec = aliveRecord(a.peerId)
    const sig = authA.sign(rec)!
    expect(authB.verify({ ...rec, sig })).toBe(true)
    expect(authB.verify({ ...rec, meta: { ...rec.meta!, addrs: ['/ip4/6.6.6.6/tcp/1'] }, sig })).toBe(false)
    expect(authB.verify({ ...rec, incarnation: 2, sig })).toBe(false)
    expect(authB.verify({ ...rec, status: 'left', sig })).toBe(false)
    expect(authB.verify({ ...rec })).toBe(false)
    expect(authB.verify({ ...rec, sig: 'garbage' })).toBe(false)
    // B re-signing A's record with its own key does not pass as A's
    const forged = Buffer.from(signBytes(b.privateKey, new TextEncoder().encode('x'))).toString('base64url')
    expect(authB.verify({ ...rec, sig: forged })).toBe(false)
  })

  it('refuses a selfId that does not match the key', async () => {
    const a = await loadOrCreateIdentity(join(dir, 'a.key'))
    const b = await loadOrCreateIdentity(join(dir, 'b.key'))
    expect(() => createEd25519Authenticator(b.peerId, a.privateKey)).toThrow(/does not match/)
  })
})
