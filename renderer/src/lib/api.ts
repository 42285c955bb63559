// The one module that knows where the API comes from: window.rollcall (the Electron preload) or a
// WebSocket to the agent's dashboard. Everything else imports `api()` from here.
import type { RollcallApi } from '../../../core/contract.js'
import { createWsApi } from './ws-client.js'

declare global {
  interface Window {
    rollcall?: RollcallApi
  }
}

let current: RollcallApi | undefined

/** Chooses the host: the preload's object in Electron, else the dashboard's WebSocket (token from the URL). */
export function pickApi(win: Window = window): RollcallApi {
  if (win.rollcall) return win.rollcall
  const token = new URLSearchParams(win.location.search).get('token') ?? ''
  const proto = win.location.protocol === 'https:' ? 'wss:' : 'ws:'
  return createWsApi(`${proto}//${win.location.host}/ws?token=${encodeURIComponent(token)}`, token)
}

export function setApi(a: RollcallApi): void {
  current = a
}

export function api(): RollcallApi {
  if (!current) current = pickApi()
  return current
}
