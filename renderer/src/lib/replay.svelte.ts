// Replaying an exported log: the entries, a scrubber position (how many entries have happened),
// and the group as it looked at that moment, folded from the entries.
import type { LogEntry, Member } from '../../../core/contract.js'
import { parseLogText } from './logfile.js'
import { indexEntries } from './timeline.svelte.js'

export interface ReplayView {
  members: Member[]
  selfId: string | null
  /** Wall-clock time of the last applied entry. */
  at: string | null
}

const SELF_STATUS: Record<string, Member['status'] | undefined> = { joining: 'alive', joined: 'alive', leaving: 'left', left: 'left' }
const MEMBER_STATUS = new Set(['alive', 'suspect', 'failed', 'left'])

/** The members after applying entries[0..count). Pure. */
export function foldEntries(entries: readonly LogEntry[], count: number): ReplayView {
  const members = new Map<string, Member>()
  let selfId: string | null = null
  const n = Math.max(0, Math.min(count, entries.length))
  for (let i = 0; i < n; i++) {
    const e = entries[i]
    if (e.type === 'self:state') {
      selfId = e.id
      const status = SELF_STATUS[e.to]
      if (!status) continue
      const prev = members.get(e.id)
      members.set(e.id, { ...(prev ?? blank(e)), name: e.name || prev?.name || '', status, incarnation: e.incarnation, since: e.ts, isSelf: true })
      continue
    }
    if (e.to === 'removed') {
      members.delete(e.id)
      continue
    }
    if (!MEMBER_STATUS.has(e.to)) continue
    const prev = members.get(e.id)
    const m: Member = { ...(prev ?? blank(e)), name: e.name || prev?.name || '', status: e.to as Member['status'], incarnation: e.incarnation, since: e.ts }
    if (e.evidence !== undefined) m.evidence = e.evidence as Member['evidence']
    else delete m.evidence
    members.set(e.id, m)
  }
  if (selfId !== null) {
    const s = members.get(selfId)
    if (s) members.set(selfId, { ...s, isSelf: true })
  }
  return { members: [...members.values()], selfId, at: n > 0 ? entries[n - 1].ts : null }
}

function blank(e: LogEntry): Member {
  return { id: e.id, name: e.name, status: 'alive', incarnation: e.incarnation, addrs: [], tags: {}, since: e.ts, isSelf: false }
}

export class Replay {
  name = $state('')
  entries = $state.raw<LogEntry[]>([])
  /** Entries applied (0..entries.length). */
  position = $state(0)
  skipped = $state(0)
  error = $state<string | null>(null)

  active: boolean = $derived(this.entries.length > 0)
  view: ReplayView = $derived(foldEntries(this.entries, this.position))
  /** Types and member names in the whole file, for the timeline's filters. */
  index = $derived(indexEntries(this.entries))
  /** The entries up to the scrubber, for the timeline. */
  shown: LogEntry[] = $derived(this.entries.slice(0, this.position))

  /** Loads an exported log (JSONL or CSV) and puts the scrubber at the end. Returns false on error (see error). */
  load(name: string, text: string): boolean {
    try {
      const parsed = parseLogText(text)
      this.name = name
      this.skipped = parsed.skipped
      this.entries = parsed.entries
      this.position = parsed.entries.length
      this.error = null
      return true
    } catch (err) {
      this.error = `Could not open ${name}: ${(err as Error).message}`
      return false
    }
  }

  seek(position: number): void {
    this.position = Math.max(0, Math.min(this.entries.length, Math.round(position)))
  }

  close(): void {
    this.entries = []
    this.position = 0
    this.name = ''
    this.skipped = 0
  }
}
