// The Electron side of the contract: one ipcMain.handle per command, each of which checks its
// sender (our window's top frame, loaded from our own origin) before the contract validates the
// argument and the shared host runs it; and the batched push stream to the window. Takes the
// electron objects as parameters, so tests drive it with fakes.

import type { IpcMainInvokeEvent } from 'electron'
import { COMMAND_NAMES, commandChannel, PUSH_CHANNEL, type Push } from '../core/contract.js'
import type { ApiHost } from '../core/dashboard/host.js'

/** The page's origin in the app (a privileged standard scheme, see main.ts). */
export const APP_ORIGIN = 'app://rollcall'

export class UntrustedSenderError extends Error {
  override name = 'UntrustedSenderError'
}

export interface IpcMainLike {
  handle(channel: string, fn: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void
  removeHandler(channel: string): void
}

interface SenderLike {
  id: number
}
interface FrameLike {
  url: string
  parent: unknown
}

/**
 * True when the message comes from the main window's top frame showing our own page: not from
 * another window, an iframe, or a page the window was somehow navigated to.
 */
export function isTrustedSender(
  event: { sender: SenderLike; senderFrame: FrameLike | null },
  windowContentsId: number | undefined,
  allowedOrigins: readonly string[],
): boolean {
  if (windowContentsId === undefined || event.sender.id !== windowContentsId) return false
  const frame = event.senderFrame
  if (!frame || frame.parent !== null) return false
  // new URL('app://rollcall/x').origin is "null" for a non-special scheme: compare the prefix.
  return allowedOrigins.some((o) => frame.url === o || frame.url.startsWith(o + '/'))
}

export interface IpcWiring {
  ipcMain: IpcMainLike
  host: Pick<ApiHost, 'call'>
  /** The main window's webContents id (undefined while there is none). */
  windowContentsId: () => number | undefined
  allowedOrigins: readonly string[]
  log?: (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void
}

/** Registers every command's handler; returns the function that removes them. */
export function registerIpcHandlers(w: IpcWiring): () => void {
  for (const name of COMMAND_NAMES) {
    w.ipcMain.handle(commandChannel(name), async (event, ...args) => {
      if (!isTrustedSender(event as never, w.windowContentsId(), w.allowedOrigins)) {
        w.log?.('warn', 'refused an IPC call from an untrusted sender', { command: name, url: event.senderFrame?.url })
        throw new UntrustedSenderError(`${name}: refused, the sender is not the Rollcall window`)
      }
      if (args.length > 1) throw new UntrustedSenderError(`${name}: takes at most one argument`)
      return w.host.call(name, args[0])
    })
  }
  return () => {
    for (const name of COMMAND_NAMES) w.ipcMain.removeHandler(commandChannel(name))
  }
}

/** Forwards the host's batched pushes to the window (one IPC message per batch). */
export function forwardPushes(host: Pick<ApiHost, 'subscribe'>, send: (channel: string, push: Push) => void): () => void {
  return host.subscribe((push) => send(PUSH_CHANNEL, push))
}
