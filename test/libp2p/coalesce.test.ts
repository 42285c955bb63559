import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { coalesceWrites, lazyWindowUpdates } from '../../core/libp2p/coalesce.js'

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

describe('lazyWindowUpdates', () => {
  function fakeStream(state: number) {
    const sent: number[] = []
    const s = {
      state,
      recvWindow: 1000,
      recvWindowCapacity: 1000,
      sendWindowUpdate() {
        sent.push(this.recvWindow - this.recvWindowCapacity)
        this.recvWindowCapacity = this.recvWindow
      },
      read(n: number) {
        this.recvWindowCapacity -= n
        this.sendWindowUpdate()
      },
    }
    return { s, sent }
  }

  it('sends a window update only once half the receive window is used, as Go yamux does', () => {
    const { s, sent } = fakeStream(3)
    expect(lazyWindowUpdates(s)).toBe(true)
    for (let i = 0; i < 4; i++) s.read(100) // 400 of 1000 used: more than half left
    expect(sent).toEqual([])
    s.read(100)
    expect(sent).toEqual([500])
    expect(s.recvWindowCapacity).toBe(1000)
  })

  it('still answers at once while the stream is being set up (the update carries the ACK flag)', () => {
    const { s, sent } = fakeStream(2) // SYNReceived
    lazyWindowUpdates(s)
    s.read(10)
    expect(sent).toEqual([10])
  })

  it('leaves other objects alone', () => {
    expect(lazyWindowUpdates({})).toBe(false)
    expect(lazyWindowUpdates(null)).toBe(false)
  })
})
