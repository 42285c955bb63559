// A minimal Rollcall agent for config experiments in the lab and the bench (`--config-json`): the
// same node as `rollcall agent` (createNode, the control socket that `members --json` uses, leave on
// SIGTERM/SIGINT), plus protocol config overrides, which the CLI deliberately does not expose.
// Run: node --import tsx test/lab/agent-main.ts --data-dir D --name N --group G --profile lan
//        --listen MA [--bootstrap MA]… [--no-mdns | --mdns-interface IF] --config-json '{"suspicionMult":2}'
import '../../core/libp2p/polyfill.js'
import { createNode } from '../../core/node/node.js'
import { startControlServer } from '../../core/node/control.js'

const argv = process.argv.slice(2)
const one = (flag: string) => {
  const i = argv.indexOf(flag)
  return i >= 0 ? argv[i + 1] : undefined
}
const many = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []))
const iface = one('--mdns-interface')
const dataDir = one('--data-dir')!
const node = createNode({
  dataDir, name: one('--name'), group: one('--group'), profile: (one('--profile') ?? 'lan') as 'lan' | 'local',
  listen: many('--listen'), bootstrap: many('--bootstrap'),
  mdns: argv.includes('--no-mdns') ? false : iface ? { interface: iface } : true,
  config: JSON.parse(one('--config-json') ?? '{}'),
  logger: (level: string, msg: string, data?: Record<string, unknown>) => console.log(`${new Date().toISOString()} ${level.toUpperCase()} ${msg} ${data ? JSON.stringify(data) : ''}`),
})
await node.start()
const control = await startControlServer(dataDir, { members: () => node.members(), status: () => node.snapshot() })
console.log(`${new Date().toISOString()} INFO control socket ready`)
let leaving = false
const shutdown = async () => {
  if (leaving) return
  leaving = true
  await Promise.race([node.leave().catch(() => {}), new Promise((r) => setTimeout(r, 5000))])
  await control.close()
  await node.stop()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown())
process.on('SIGINT', () => void shutdown())
await node.join()
setInterval(() => {}, 1 << 30)
