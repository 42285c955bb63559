// What `rollcall agent --dashboard HOST:PORT` starts: the contract host over the agent's node, read-only
// settings taken from the agent's flags, and the dashboard server. Kept here so the CLI adds a few lines only.

import type { Settings } from '../contract.js'
import type { RollcallNode } from '../node/node.js'
import { createApiHost } from './host.js'
import { startDashboard, type Dashboard } from './server.js'

export interface AgentDashboardOptions {
  listen: string
  allowRemote?: boolean
  /** The agent's flags, shown read-only. */
  settings: Settings
  version: string
  log: (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void
  staticDir?: string
}

export async function startAgentDashboard(node: RollcallNode, o: AgentDashboardOptions): Promise<Dashboard> {
  const host = createApiHost(node, {
    info: {
      kind: 'dashboard', version: o.version, settingsEditable: false, hostOpensLogs: false,
      settingsNote: 'The dashboard shows the agent’s command-line flags. To change them, restart the agent with other flags (rollcall agent --help).',
    },
    getSettings: () => ({ ...o.settings, name: safeSelfName(node) ?? o.settings.name }),
  })
  const dash = await startDashboard({ listen: o.listen, host, allowRemote: o.allowRemote, log: o.log, staticDir: o.staticDir })
  o.log('info', 'dashboard ready', { url: dash.url })
  const close = dash.close.bind(dash)
  return { ...dash, clients: dash.clients, close: async () => { host.close(); await close() } }
}

function safeSelfName(node: RollcallNode): string | undefined {
  try {
    return node.self().name
  } catch {
    return undefined
  }
}
