// Small formatting helpers shared by components (pure).
import type { Member } from '../../../core/contract.js'

export const STATUS_ORDER: Member['status'][] = ['alive', 'suspect', 'failed', 'left']

export const shortId = (id: string) => (id.length > 12 ? '…' + id.slice(-8) : id)

/** "10:42:13.204" in local time. */
export function clock(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

/** "3 s ago", "4 min ago", "2 h ago". */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

/** Words for an error from a command: the message, without "Error:" noise. */
export function errorWords(err: unknown): string {
  const e = err as { message?: unknown }
  const msg = typeof e?.message === 'string' ? e.message : String(err)
  return msg.replace(/^Error invoking remote method '[^']+': (\w+: )?/, '').replace(/^(Error|HostError|ContractError): /, '')
}

/** The event's type without the "member:" prefix, for badges. */
export const typeLabel = (t: string) => t.replace(/^member:/, '')
