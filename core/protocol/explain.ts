// Evidence in plain words: the answer to "why is X failed?". Pure; the UI, the CLI and the
// event-log reader all use it, so they say the same thing.

import type { Evidence, ProbeEvidence } from './types.js'

export type NameOf = (id: string) => string

const shortId = (id: string) => (id.length > 12 ? '…' + id.slice(-8) : id)
const defaultNameOf: NameOf = shortId

function list(items: string[]): string {
  if (items.length <= 1) return items.join('')
  return items.slice(0, -1).join(', ') + ' and ' + items[items.length - 1]
}

function outcomeWords(o: ProbeEvidence['outcome']): string {
  switch (o) {
    case 'ack': return 'answered'
    case 'timeout': return 'timed out'
    case 'refused': return 'was refused (nothing listening on a live host)'
    case 'unreachable': return 'could not connect'
    case 'nack': return 'reported no answer (nack)'
  }
}

function probesWords(probes: ProbeEvidence[], nameOf: NameOf): string[] {
  const parts: string[] = []
  const direct = probes.filter((p) => !p.via)
  const indirect = probes.filter((p) => p.via)
  for (const d of direct) parts.push(`direct probe from ${nameOf(d.by)} ${outcomeWords(d.outcome)}`)
  if (indirect.length > 0) {
    const byOutcome = new Map<string, string[]>()
    for (const p of indirect) {
      const k = outcomeWords(p.outcome)
      byOutcome.set(k, [...(byOutcome.get(k) ?? []), nameOf(p.via!)])
    }
    for (const [words, vias] of byOutcome) parts.push(`indirect probe${vias.length > 1 ? 's' : ''} via ${list(vias)} ${words}`)
  } else if (direct.length > 0 && direct.every((d) => d.outcome === 'timeout')) {
    parts.push('no other member was available for indirect probes')
  }
  return parts
}

/** One sentence explaining a verdict, e.g. "failed: direct probe from lab-07 timed out; …". */
export function explainEvidence(ev: Evidence | undefined, nameOf: NameOf = defaultNameOf): string {
  if (!ev) return 'no evidence recorded'
  const parts: string[] = []
  const heard = ev.source && ev.source !== ev.observer ? ` (heard from ${nameOf(ev.source)})` : ''
  switch (ev.rule) {
    case 'alive-record':
      parts.push(`announced itself alive${heard}`)
      break
    case 'refuted':
      parts.push(`refuted a suspicion by raising its incarnation${heard}`)
      break
    case 'leave-announced':
      parts.push(`announced its own leave${heard}`)
      break
    case 'probe-failed':
      parts.push(`suspected by ${nameOf(ev.observer)}${heard}`)
      break
    case 'connection-refused':
      parts.push(`suspected by ${nameOf(ev.observer)}: connection refused (strong evidence)${heard}`)
      break
    case 'suspect-gossip':
      parts.push(`suspected by ${nameOf(ev.observer)}${heard}`)
      break
    case 'failed-gossip':
      parts.push(`declared failed by ${nameOf(ev.observer)}${heard}`)
      break
    case 'suspicion-timeout':
      parts.push(`declared failed by ${nameOf(ev.observer)}${heard}`)
      break
    case 'tombstone-expired':
      parts.push(`forgotten after being down for ${ev.timeoutMs !== undefined ? formatMs(ev.timeoutMs) : 'the tombstone timeout'}`)
      break
    case 'sync':
      parts.push(`learned through state sync from ${nameOf(ev.source ?? ev.observer)}`)
      break
  }
  if (ev.probes && ev.probes.length > 0) parts.push(...probesWords(ev.probes, nameOf))
  if (ev.rule === 'suspicion-timeout') {
    const n = ev.confirmations?.length ?? 0
    parts.push(`suspicion timeout ${ev.timeoutMs !== undefined ? formatMs(ev.timeoutMs) + ' ' : ''}expired without a refutation`)
    if (n > 1) parts.push(`${n} members suspected it independently (${list(ev.confirmations!.map(nameOf))})`)
  }
  return parts.join('; ')
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
}
