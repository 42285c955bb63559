// Preload (sandboxed, bundled to CommonJS by build/build-electron.mjs): exposes one purpose-built
// object, window.rollcall, derived from the contract. The page never sees ipcRenderer.

import { contextBridge, ipcRenderer } from 'electron'
import { COMMAND_NAMES, commandChannel, PUSH_CHANNEL, type Push, type RollcallApi } from '../core/contract.js'

interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>
  on(channel: string, fn: (event: unknown, payload: unknown) => void): unknown
  removeListener(channel: string, fn: (event: unknown, payload: unknown) => void): unknown
}

export function buildApi(ipc: IpcRendererLike): RollcallApi {
  const api: Record<string, unknown> = {}
  for (const name of COMMAND_NAMES) {
    // One argument at most, passed on as is: main validates it against the contract.
    api[name] = (arg?: unknown) => (arg === undefined ? ipc.invoke(commandChannel(name)) : ipc.invoke(commandChannel(name), arg))
  }
  api.onPush = (fn: (push: Push) => void) => {
    const listener = (_event: unknown, payload: unknown) => fn(payload as Push)
    ipc.on(PUSH_CHANNEL, listener)
    return () => void ipc.removeListener(PUSH_CHANNEL, listener)
  }
  return Object.freeze(api) as unknown as RollcallApi
}

contextBridge.exposeInMainWorld('rollcall', buildApi(ipcRenderer as unknown as IpcRendererLike))
