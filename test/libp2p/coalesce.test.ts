import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { coalesceWrites } from '../../core/libp2p/coalesce.js'

function fakeConn() {
  const log: string[] = []
  const writes: Uint8Array[] = []
  const socket = {
    destroyed: false,
    cork: () => log.push('cork'),
    uncork: () => log.push('uncork'),
    write: (b: Uint8Array) => (writes.push(b), log.push(`write ${b.byteLength}`), true),
  }
  const original = (data: Uint8ArrayList) => {
    for (const b of data) socket.write(b)
    return { sentBytes: data.byteLength, canSendMore: true }
  }
  return { conn: { socket, sendData: original } as { socket: typeof socket; sendData: (d: Uint8ArrayList) => { sentBytes: number; canSendMore: boolean } }, log, writes }
}

describe('coalesceWrites', () => {
  it("writes a Noise frame's length and ciphertext as one buffer, and corks the writes of one event loop turn", async () => {
    const { conn, log, writes } = fakeConn()
    expect(coalesceWrites(conn)).toBe(true)
    const r1 = conn.sendData(new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(7, 8, 9)))
    await Promise.resolve() // a promise continuation in the same turn (a handler writing its reply)
    conn.sendData(new Uint8ArrayList(Uint8Array.of(0, 1), Uint8Array.of(5)))
    expect(r1).toEqual({ sentBytes: 5, canSendMore: true })
    expect(writes.map((w) => [...w])).toEqual([[0, 3, 7, 8, 9], [0, 1, 5]])
    expect(log).toEqual(['cork', 'write 5', 'write 3'])
    await new Promise((r) => setImmediate(r))
    expect(log.at(-1)).toBe('uncork')
    conn.sendData(new Uint8ArrayList(Uint8Array.of(1)))
    expect(log.slice(-2)).toEqual(['cork', 'write 1'])
  })

  it('leaves anything that is not a TCP connection alone', () => {
    const odd = { sendData: () => ({ sentBytes: 0, canSendMore: true }) }
    expect(coalesceWrites(odd)).toBe(false)
    expect(coalesceWrites(undefined)).toBe(false)
  })
})
