// The contract over the dashboard's WebSocket: the same RollcallApi object the Electron preload
// exposes, so nothing else in the renderer knows which host it runs in.
import {
  COMMAND_NAMES, type CommandName, type Push, type RollcallApi, type WireRequest, type WireResponse, type WirePush,
} from '../../../core/contract.js'

export interface WsApiOptions {
  /** Reconnect delays grow from 500 ms to this. */
  maxBackoffMs?: number
  /** A command unanswered this long fails (joins and leaves take a few seconds at most). */
  timeoutMs?: number
  WebSocketImpl?: typeof WebSocket
}

/** The connection to the agent is gone (the agent stopped, or the network dropped). */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError'
}

export function createWsApi(url: string, token: string, opts: WsApiOptions = {}): RollcallApi & { close(): void } {
  const WS = opts.WebSocketImpl ?? WebSocket
  const maxBackoff = opts.maxBackoffMs ?? 5000
  const timeoutMs = opts.timeoutMs ?? 60_000
  const listeners = new Set<(p: Push) => void>()
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>()
  const queue: string[] = []
  let nextId = 1
  let ws: WebSocket | undefined
  let backoff = 500
  let closed = false
  let wasOpen = false
  let failures = 0

  const emit = (p: Push) => {
    for (const fn of listeners) fn(p)
  }

  function connect(): void {
    if (closed) return
    const sock = new WS(url)
    ws = sock
    sock.onopen = () => {
      backoff = 500
      failures = 0
      if (wasOpen) emit({ type: 'notice', payload: { level: 'info', message: 'Reconnected to the agent' } })
      wasOpen = true
      for (const m of queue.splice(0)) sock.send(m)
    }
    sock.onmessage = (ev) => {
      let msg: WireResponse | WirePush
      try {
        msg = JSON.parse(String(ev.data))
      } catch {
        return
      }
      if ('push' in msg) return emit(msg.push)
      const p = pending.get(msg.id)
      if (!p) return
      pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.ok) p.resolve(msg.result)
      else {
        const err = new Error(msg.error.message)
        err.name = msg.error.name
        p.reject(err)
      }
    }
    sock.onclose = (ev) => {
      if (ws !== sock) return
      ws = undefined
      for (const [id, p] of pending) {
        clearTimeout(p.timer)
        p.reject(new ConnectionLostError('the connection to the agent was lost before it answered'))
        pending.delete(id)
      }
      if (closed) return
      failures++
      const why = ev.code === 4401 ? ' (the token was refused)' : ''
      const hint = failures >= 3 ? ' If the agent was restarted, open the new URL from its log (the token changes at every start).' : ''
      emit({ type: 'notice', payload: { level: 'warn', message: `Lost the connection to the agent${why}; reconnecting…${hint}` } })
      setTimeout(connect, backoff)
      backoff = Math.min(maxBackoff, backoff * 2)
    }
  }

  function call(cmd: CommandName, arg: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = nextId++
      const req: WireRequest = { id, cmd, token, ...(arg === undefined ? {} : { arg }) }
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`${cmd}: no answer from the agent within ${Math.round(timeoutMs / 1000)} s`))
      }, timeoutMs)
      pending.set(id, { resolve, reject, timer })
      const text = JSON.stringify(req)
      if (ws && ws.readyState === WS.OPEN) ws.send(text)
      else queue.push(text)
    })
  }

  const api = Object.fromEntries(COMMAND_NAMES.map((name) => [name, (arg?: unknown) => call(name, arg)])) as unknown as RollcallApi
  connect()
  return Object.assign(api, {
    onPush(fn: (p: Push) => void) {
      listeners.add(fn)
      return () => void listeners.delete(fn)
    },
    close() {
      closed = true
      ws?.close()
    },
  })
}
