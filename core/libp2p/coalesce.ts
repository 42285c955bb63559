// Fewer, fuller TCP segments. @libp2p/tcp writes each chunk of a Uint8ArrayList with its own
// socket.write(), and the socket runs with TCP_NODELAY, so every Noise frame left as two segments
// (its 2-byte length, then the ciphertext), and a yamux stream open, its data and its close left as
// separate frames as well. Measured in the fault lab (N = 10, tcpdump on one node's veth): a probe
// and its ack cost about 33 packets, 38 packets and 2.7 KB per node per second at idle, of which
// the payload was about 160 B/s.
//
// This wrapper keeps @libp2p/tcp as it is and changes only how a connection writes: one write per
// sendData() call, and everything written while the event loop handles one event leaves in one
// writev() (socket.cork() now, socket.uncork() in setImmediate, after every promise continuation
// the event started, such as the reply a handler writes). Latency grows by well under 1 ms.

import type { Transport as Libp2pTransportModule } from '@libp2p/interface'

interface WritableMaConn {
  socket?: { cork?: () => void; uncork?: () => void; write?: (b: Uint8Array) => boolean; destroyed?: boolean }
  sendData?: (data: Iterable<Uint8Array> & { byteLength: number; subarray?: () => Uint8Array }) => { sentBytes: number; canSendMore: boolean }
}

const PATCHED = Symbol('rollcall.coalesced')

/** Replace one TCP connection's sendData with a corked single write; anything unexpected: leave it. */
export function coalesceWrites(maConn: unknown): boolean {
  const c = maConn as WritableMaConn & { [PATCHED]?: true }
  const socket = c?.socket
  if (socket === undefined || typeof socket.cork !== 'function' || typeof socket.uncork !== 'function' || typeof socket.write !== 'function' || typeof c.sendData !== 'function') return false
  if (c[PATCHED]) return true
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork!()
  }
  c.sendData = (data) => {
    const buf = data instanceof Uint8Array ? data : typeof data.subarray === 'function' ? data.subarray() : Uint8Array.from([...data].flatMap((b) => [...b]))
    if (!corked && !socket.destroyed) {
      corked = true
      socket.cork!()
      setImmediate(uncork)
    }
    const canSendMore = socket.write!(buf)
    return { sentBytes: buf.byteLength, canSendMore }
  }
  c[PATCHED] = true
  return true
}

type Upgrader = { upgradeInbound: (maConn: unknown, opts?: unknown) => unknown; upgradeOutbound: (maConn: unknown, opts?: unknown) => unknown }

function wrapUpgrader<U extends Upgrader>(upgrader: U): U {
  return new Proxy(upgrader, {
    get(target, prop, receiver) {
      if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') {
        return (maConn: unknown, opts?: unknown) => {
          coalesceWrites(maConn)
          return target[prop](maConn, opts)
        }
      }
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

/** Wrap a libp2p transport factory (e.g. tcp()) so its connections coalesce their writes. */
export function coalescing<C>(factory: (components: C) => Libp2pTransportModule): (components: C) => Libp2pTransportModule {
  return (components: C) => {
    const t = factory(components)
    const dial = t.dial.bind(t)
    const createListener = t.createListener.bind(t)
    t.dial = (ma, options) => dial(ma, { ...options, upgrader: wrapUpgrader(options.upgrader as unknown as Upgrader) as never })
    t.createListener = (options) => createListener({ ...options, upgrader: wrapUpgrader(options.upgrader as unknown as Upgrader) as never })
    return t
  }
}

/** YamuxStream's StreamState.Established in @chainsafe/libp2p-yamux 8 (dist/src/stream.js). */
const YAMUX_ESTABLISHED = 3

/**
 * On a long-lived stream, send Yamux window updates the way Go's yamux does: only once half the
 * receive window is used. @chainsafe/libp2p-yamux sends one after every data frame it reads, so
 * every ack on a probe channel cost the prober an extra 30-byte frame and TCP segment. Frames that
 * carry flags (the SYN's ACK) still go out at once. Anything that is not such a stream: left alone.
 */
export function lazyWindowUpdates(stream: unknown): boolean {
  const s = stream as { state?: unknown; recvWindow?: unknown; recvWindowCapacity?: unknown; sendWindowUpdate?: unknown }
  if (typeof s?.sendWindowUpdate !== 'function' || typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number' || typeof s.state !== 'number') return false
  const original = (s.sendWindowUpdate as () => void).bind(s)
  s.sendWindowUpdate = () => {
    if (s.state === YAMUX_ESTABLISHED && (s.recvWindowCapacity as number) > (s.recvWindow as number) / 2) return
    original()
  }
  return true
}
