// The session: wires the API's pushes into the state classes and loads the initial state.
// Components receive these objects as props; only the state classes call the API.
import type { ExportFormat, HostInfo, RollcallApi } from '../../../core/contract.js'
import { CONTRACT_VERSION } from '../../../core/contract.js'
import { ClusterState } from './cluster.svelte.js'
import { errorWords } from './format.js'
import { Replay } from './replay.svelte.js'
import { Timeline } from './timeline.svelte.js'

/** Entries fetched at start: enough for a day of a busy lab; older ones are in the exported log. */
export const INITIAL_EVENTS = 10_000

export class AppState {
  info = $state.raw<HostInfo | null>(null)
  notice = $state<{ level: 'info' | 'warn'; message: string } | null>(null)
  loadError = $state<string | null>(null)
  busy = $state<string | null>(null)
  readonly cluster: ClusterState
  readonly timeline = new Timeline()
  readonly replay = new Replay()
  private unsubscribe: (() => void) | undefined
  private refetching = false

  constructor(private readonly api: () => RollcallApi) {
    this.cluster = new ClusterState(api)
  }

  async start(): Promise<void> {
    const api = this.api()
    this.unsubscribe = api.onPush((p) => {
      if (p.type === 'notice') {
        this.notice = p.payload
        if (p.payload.message.startsWith('Reconnected')) void this.refetch()
        return
      }
      const complete = this.cluster.applyBatch(p.payload)
      this.timeline.append(p.payload.events)
      if (!complete) void this.refetch()
    })
    try {
      const [info, snap, events] = await Promise.all([api.getInfo(), api.getSnapshot(), api.getEvents({ last: INITIAL_EVENTS })])
      this.info = info
      if (info.contractVersion !== CONTRACT_VERSION) {
        this.notice = { level: 'warn', message: `This page speaks contract version ${CONTRACT_VERSION}, the host ${info.contractVersion}: reload the page or update the app.` }
      }
      this.cluster.setSnapshot(snap)
      this.timeline.replaceAll(events)
    } catch (err) {
      this.loadError = `Could not load the node's state: ${errorWords(err)}`
    }
  }

  /** After missed pushes: fetch the whole state again. */
  async refetch(): Promise<void> {
    if (this.refetching) return
    this.refetching = true
    try {
      const api = this.api()
      const [snap, events] = await Promise.all([api.getSnapshot(), api.getEvents({ last: INITIAL_EVENTS })])
      this.cluster.setSnapshot(snap)
      this.timeline.replaceAll(events)
      this.loadError = null
    } catch {
      /* the next batch or reconnect tries again */
    } finally {
      this.refetching = false
    }
  }

  stop(): void {
    this.unsubscribe?.()
  }

  /** Export through the host: a browser download in the dashboard, a save dialog in Electron. */
  async exportLog(format: ExportFormat, download: (filename: string, mime: string, text: string) => void): Promise<void> {
    this.busy = `Exporting ${format.toUpperCase()}…`
    try {
      const r = await this.api().exportLog({ format })
      if (r.kind === 'download') {
        download(r.filename, r.mime, r.text)
        this.notice = { level: 'info', message: `Exported ${r.count} events as ${r.filename}` }
      } else if (r.kind === 'saved') {
        this.notice = { level: 'info', message: `Exported ${r.count} events to ${r.path}` }
      }
    } catch (err) {
      this.notice = { level: 'warn', message: `Export failed: ${errorWords(err)}` }
    } finally {
      this.busy = null
    }
  }

  /** Electron: the host's open dialog. The dashboard passes the file's text to openText instead. */
  async openWithHost(): Promise<void> {
    try {
      const r = await this.api().openLog()
      if (r.kind === 'opened') this.openText(r.name, r.text)
    } catch (err) {
      this.notice = { level: 'warn', message: `Could not open the log: ${errorWords(err)}` }
    }
  }

  openText(name: string, text: string): void {
    if (this.replay.load(name, text)) {
      this.cluster.select(null)
      const skipped = this.replay.skipped
      this.notice = { level: 'info', message: `Replaying ${name}: ${this.replay.entries.length} events${skipped ? ` (${skipped} unreadable lines skipped)` : ''}` }
    } else {
      this.notice = { level: 'warn', message: this.replay.error ?? 'Could not open the log' }
    }
  }
}
