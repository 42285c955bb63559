// Import the core headlessly and print who is alive. Run from a checkout after `npm install`:
//   node examples/who-is-alive.mjs [--no-mdns] [bootstrap-multiaddr…]
import { createNode } from 'rollcall/core'

const args = process.argv.slice(2)
const node = createNode({
  name: 'who-is-alive',
  dataDir: '/tmp/rollcall-example',
  // mDNS finds lab machines by itself; pass a member's address where multicast is blocked.
  mdns: !args.includes('--no-mdns'),
  bootstrap: args.filter((a) => a.startsWith('/')),
})
await node.start()
node.on('member:failed', (ev) => console.log(`${ev.name} failed: ${ev.evidence?.rule}`))
await node.join()
await new Promise((r) => setTimeout(r, 3000))
for (const m of node.reachable()) console.log(`${m.name.padEnd(20)} ${m.id} ${m.addrs[0] ?? ''}`)
await node.leave()
await node.stop()
