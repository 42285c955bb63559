// The live view of the group: the last snapshot (raw: replaced whole, never mutated), the
// selection, Join/Leave progress and the agreement indicator, all derived from the snapshot.
import type { Member, RollcallApi, UiSnapshot, UpdateBatch } from '../../../core/contract.js'
import { errorWords, shortId } from './format.js'

export interface Agreement {
  /** 'digests': compared with peers' reported digests; 'local': only our own view is known. */
  mode: 'digests' | 'local'
  agree: number
  total: number
  /** Names of members whose view differs from ours. */
  differing: string[]
  text: string
  detail: string
}

export function computeAgreement(snap: UiSnapshot | null): Agreement | null {
  if (!snap) return null
  const up = snap.members.filter((m) => m.status === 'alive')
  const peer = snap.peerDigests
  if (peer && Object.keys(peer).length > 0) {
    const differing: string[] = []
    let agree = 0
    for (const m of up) {
      const d = m.isSelf ? snap.digest : peer[m.id]
      if (d === snap.digest) agree++
      else differing.push(m.name)
    }
    const text = differing.length === 0 ? `views agree: ${agree} of ${up.length}` : `views differ: ${differing.slice(0, 3).join(', ')}${differing.length > 3 ? ` +${differing.length - 3}` : ''}`
    return { mode: 'digests', agree, total: up.length, differing, text, detail: `${agree} of ${up.length} alive members report the same view digest as ours (${snap.digest}).` }
  }
  const notAlive = snap.members.length - up.length
  return {
    mode: 'local', agree: up.length, total: snap.members.length, differing: [],
    text: `local view: ${up.length} of ${snap.members.length} alive`,
    detail: `Our view digest is ${snap.digest}. Peers' digests are not available from this host, so this shows our own view only` +
      (notAlive > 0 ? `; ${notAlive} member${notAlive > 1 ? 's are' : ' is'} not alive.` : '.'),
  }
}

export type Action = 'idle' | 'joining' | 'leaving'

export class ClusterState {
  snapshot = $state.raw<UiSnapshot | null>(null)
  selectedId = $state<string | null>(null)
  action = $state<Action>('idle')
  error = $state<string | null>(null)
  /** Last batch number seen; a gap means pushes were missed. */
  lastBatch = 0

  members: Member[] = $derived(this.snapshot?.members ?? [])
  byId: Map<string, Member> = $derived(new Map(this.members.map((m) => [m.id, m])))
  selfId: string | null = $derived(this.snapshot?.self.id ?? null)
  selected: Member | null = $derived(this.selectedId === null ? null : (this.byId.get(this.selectedId) ?? null))
  counts: Record<Member['status'], number> = $derived(countByStatus(this.members))
  agreement: Agreement | null = $derived(computeAgreement(this.snapshot))
  /** Whether the button offers Join (else Leave). */
  canJoin: boolean = $derived(this.snapshot === null || this.snapshot.state === 'idle' || this.snapshot.state === 'left')
  /** Progress words while joining or leaving, from our own click or the node's own state. */
  progress: string | null = $derived(
    this.action === 'joining' || this.snapshot?.state === 'joining' ? 'Joining…'
      : this.action === 'leaving' || this.snapshot?.state === 'leaving' ? 'Leaving…' : null,
  )

  constructor(private readonly api: () => RollcallApi) {}

  nameOf = (id: string): string => this.byId.get(id)?.name ?? shortId(id)

  select(id: string | null): void {
    this.selectedId = id
  }

  setSnapshot(s: UiSnapshot): void {
    this.snapshot = s
  }

  /** Applies a pushed batch; returns false when batches were missed (the caller refetches). */
  applyBatch(b: UpdateBatch): boolean {
    const gap = this.lastBatch !== 0 && b.batch !== this.lastBatch + 1
    this.lastBatch = b.batch
    if (b.snapshot) this.snapshot = b.snapshot
    return !gap && b.droppedEvents === 0
  }

  async join(): Promise<void> {
    await this.run('joining', () => this.api().join())
  }

  async leave(): Promise<void> {
    await this.run('leaving', () => this.api().leave())
  }

  private async run(action: Action, fn: () => Promise<UiSnapshot>): Promise<void> {
    if (this.action !== 'idle') return
    this.action = action
    this.error = null
    try {
      this.snapshot = await fn()
    } catch (err) {
      this.error = `${action === 'joining' ? 'Could not join' : 'Could not leave'}: ${errorWords(err)}`
    } finally {
      this.action = 'idle'
    }
  }
}

export function countByStatus(members: readonly Member[]): Record<Member['status'], number> {
  const c = { alive: 0, suspect: 0, failed: 0, left: 0 }
  for (const m of members) c[m.status]++
  return c
}
