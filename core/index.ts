// Rollcall's public API: import this from Node without Electron. Re-exports only.
import './libp2p/polyfill.js'

export {
  createNode,
  RollcallNode,
  InvalidOptionsError,
  NodeNotStartedError,
  NodeStoppedError,
  MAX_ITERATOR_BUFFER,
  type NodeOptions,
  type Member,
  type NodeEvent,
  type NodeEventType,
  type NodeEventMap,
  type NodeStats,
  type Snapshot,
} from './node/node.js'
export { PROFILES, LAN_PROFILE, LOCAL_PROFILE, LIMITS, InvalidConfigError, type ProtocolConfig, type ProfileName } from './protocol/config.js'
export type { Evidence, ProbeEvidence, MemberStatus, SelfState, MembershipEvent } from './protocol/types.js'
export { explainEvidence } from './protocol/explain.js'
export { IdentityError } from './libp2p/identity.js'
export { DataDirError } from './node/datadir.js'
export { AgentRunningError } from './node/lock.js'
export { exportCsv, exportJsonl, readEventLogFiles, type LogEntry } from './node/eventlog.js'
