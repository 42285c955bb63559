// The event timeline: every log entry we have (raw array, replaced on change), filters by type and
// member, and autoscroll that the user can pause. The list component renders only visible rows.
import type { LogEntry } from '../../../core/contract.js'

/** Entries kept in memory; the oldest are dropped beyond (the full log stays on disk, exportable). */
export const MAX_TIMELINE_ENTRIES = 50_000

export class Timeline {
  entries = $state.raw<LogEntry[]>([])
  typeFilter = $state('')
  memberFilter = $state('')
  paused = $state(false)
  /** Entries that arrived while paused (shown on the Resume button). */
  unseen = $state(0)

  /** Event types and members seen, kept up to date incrementally (not rescanned per batch). */
  types = $state.raw<string[]>([])
  /** Members that appear in the timeline (id → latest name), for the member filter. */
  memberNames = $state.raw<Map<string, string>>(new Map())

  filtered: LogEntry[] = $derived(filterEntries(this.entries, this.typeFilter, this.memberFilter))
  lastSeq: number = $derived(this.entries.length > 0 ? this.entries[this.entries.length - 1].seq : 0)

  /** Adds new entries (those at or below the last seq are ignored: batches can overlap a refetch). */
  append(batch: readonly LogEntry[]): void {
    const last = this.lastSeq
    const fresh = batch.filter((e) => e.seq > last)
    if (fresh.length === 0) return
    let next = this.entries.concat(fresh)
    if (next.length > MAX_TIMELINE_ENTRIES) next = next.slice(next.length - MAX_TIMELINE_ENTRIES)
    this.entries = next
    this.index(fresh, false)
    if (this.paused) this.unseen += fresh.length
  }

  replaceAll(entries: readonly LogEntry[]): void {
    this.entries = entries.slice(-MAX_TIMELINE_ENTRIES)
    this.index(this.entries, true)
    this.unseen = 0
  }

  private index(entries: readonly LogEntry[], reset: boolean): void {
    const idx = indexEntries(entries, reset ? undefined : { types: this.types, names: this.memberNames })
    if (idx.types !== this.types) this.types = idx.types
    if (idx.names !== this.memberNames) this.memberNames = idx.names
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
    this.unseen = 0
  }

  clearFilters(): void {
    this.typeFilter = ''
    this.memberFilter = ''
  }
}

export function filterEntries(entries: readonly LogEntry[], type: string, member: string): LogEntry[] {
  if (!type && !member) return entries as LogEntry[]
  return entries.filter((e) => (!type || e.type === type) && (!member || e.id === member))
}

/**
 * Types and member names in `entries`, merged into `prev`; returns prev's own objects when
 * nothing new appeared, so nothing downstream recomputes.
 */
export function indexEntries(entries: readonly LogEntry[], prev?: { types: string[]; names: Map<string, string> }): { types: string[]; names: Map<string, string> } {
  let types = prev?.types ?? []
  let names = prev?.names ?? new Map<string, string>()
  let typeSet: Set<string> | undefined
  let copied = prev === undefined
  for (const e of entries) {
    if (!types.includes(e.type)) {
      typeSet ??= new Set(types)
      typeSet.add(e.type)
      types = [...typeSet].sort()
    }
    if (e.type !== 'self:state' && e.name && names.get(e.id) !== e.name) {
      if (!copied) {
        names = new Map(names)
        copied = true
      }
      names.set(e.id, e.name)
    }
  }
  return { types, names }
}
