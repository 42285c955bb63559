// `npm run bench:handshake`: CPU per libp2p connection (TCP + Noise + Yamux + identify, both ends in
// one process), with noise's default X25519 and with core/libp2p/x25519.ts, alternating (ABBA). Each
// connection: dial, one ping, hang up. Loopback only. A benchmark, not a test: it reports.
//
//   npm run bench:handshake                        # 4 runs × 300 connections per variant (~1 min)
//   npm run bench:handshake -- --runs 6 --connections 500
import '../core/libp2p/polyfill.js'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { x25519Crypto } from '../core/libp2p/x25519.js'
import { Fleet, introduce, ping, sleep, waitFor } from '../test/libp2p/helpers.js'

const WARMUP_CONNECTIONS = 30
const ours = { ...x25519Crypto }

function intFlag(argv: string[], name: string, def: number, max: number): number {
  const i = argv.indexOf(`--${name}`)
  if (i < 0) return def
  const v = Number(argv[i + 1])
  if (!Number.isInteger(v) || v < 1 || v > max) {
    console.error(`bench:handshake: --${name} must be an integer in 1..${max}, got ${JSON.stringify(argv[i + 1] ?? null)}`)
    process.exit(2)
  }
  return v
}

const argv = process.argv.slice(2)
for (const a of argv) {
  if (a.startsWith('--') && a !== '--runs' && a !== '--connections') {
    console.error(`bench:handshake: unknown flag ${a} (flags: --runs N, --connections N)`)
    process.exit(2)
  }
}
const runs = intFlag(argv, 'runs', 4, 20)
const connections = intFlag(argv, 'connections', 300, 5000)

/** ms of CPU per connection for one variant. */
async function measure(variant: 'default' | 'x25519'): Promise<number> {
  const impl = variant === 'default' ? defaultCrypto : ours
  x25519Crypto.generateX25519KeyPair = impl.generateX25519KeyPair
  x25519Crypto.generateX25519SharedKey = impl.generateX25519SharedKey
  const fleet = new Fleet()
  try {
    const a = await fleet.node()
    const b = await fleet.node()
    introduce(a, b)
    let pings = 0
    b.onMessage = () => {
      pings++
    }
    const connect = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const before = pings
        a.t.send(b.t.peerId, ping(i))
        await waitFor('ping', () => pings > before, 10_000)
        await a.t.closeConnections(b.t.peerId)
        await sleep(5)
      }
    }
    await connect(WARMUP_CONNECTIONS)
    const cpu0 = process.cpuUsage()
    await connect(connections)
    const cpu = process.cpuUsage(cpu0)
    return (cpu.user + cpu.system) / 1000 / connections
  } finally {
    await fleet.stopAll()
  }
}

const results: Record<string, number[]> = { default: [], x25519: [] }
for (let r = 0; r < runs; r++) {
  // ABBA order: the process keeps warming up, so neither variant always runs second.
  const order = r % 2 === 0 ? (['default', 'x25519'] as const) : (['x25519', 'default'] as const)
  for (const variant of order) {
    const ms = await measure(variant)
    results[variant].push(ms)
    console.error(`run ${r + 1}/${runs} ${variant.padEnd(7)} ${ms.toFixed(2)} ms CPU per connection`)
  }
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]
console.log(`CPU per connection, both ends, median of ${runs} × ${connections}: noise default ${median(results.default).toFixed(2)} ms, x25519.ts ${median(results.x25519).toFixed(2)} ms (Node ${process.version})`)
