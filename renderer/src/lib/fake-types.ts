export { CONTRACT_VERSION } from '../../../core/contract.js'
export type { LogEntry, Member, Push, RollcallApi, Settings, UiSnapshot } from '../../../core/contract.js'
export type { Evidence } from '../../../core/protocol/types.js'
