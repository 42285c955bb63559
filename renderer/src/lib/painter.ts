// Draws the peer graph on a canvas and handles pan, zoom and clicks. Plain DOM code: the Svelte
// component hands it the model through {@attach}; it repaints only when the model, the size or the
// view changes (one requestAnimationFrame per change), so an idle graph costs nothing.
import type { Member } from '../../../core/contract.js'
import { hitTest, type Edge, type Point } from './graph.js'

export interface GraphModel {
  members: readonly Member[]
  positions: Map<string, Point>
  edges: readonly Edge[]
  selfId: string | null
  selectedId: string | null
}

interface Colors {
  bg: string; fg: string; muted: string; edge: string; edgeFailed: string; select: string
  alive: string; suspect: string; failed: string; left: string
}

const NODE_R = 10
const MIN_SCALE = 0.15
const MAX_SCALE = 6

export class GraphPainter {
  private canvas: HTMLCanvasElement | undefined
  private ctx: CanvasRenderingContext2D | null = null
  private model: GraphModel = { members: [], positions: new Map(), edges: [], selfId: null, selectedId: null }
  private scale = 1
  private tx = 0
  private ty = 0
  private fitted = false
  private frame = 0
  private colors: Colors | undefined
  private drag: { x: number; y: number; moved: boolean; id: number } | undefined
  /** Last paint's duration, ms (the perf bench reads it). */
  lastPaintMs = 0

  constructor(private readonly onSelect: (id: string | null) => void) {}

  /** For {@attach}: sets up the canvas; returns the cleanup. */
  attach = (canvas: HTMLCanvasElement): (() => void) => {
    this.canvas = canvas
    this.ctx = canvas.getContext('2d')
    const ro = typeof ResizeObserver === 'undefined' ? undefined : new ResizeObserver(() => {
      if (!this.userMoved) this.fitted = false
      this.schedule()
    })
    ro?.observe(canvas)
    const mq = typeof matchMedia === 'undefined' ? undefined : matchMedia('(prefers-color-scheme: dark)')
    const onScheme = () => {
      this.colors = undefined
      this.schedule()
    }
    mq?.addEventListener('change', onScheme)
    const down = (e: PointerEvent) => {
      this.drag = { x: e.clientX, y: e.clientY, moved: false, id: e.pointerId }
      canvas.setPointerCapture?.(e.pointerId)
    }
    const move = (e: PointerEvent) => {
      const d = this.drag
      if (!d || d.id !== e.pointerId) return
      const dx = e.clientX - d.x
      const dy = e.clientY - d.y
      if (!d.moved && Math.abs(dx) + Math.abs(dy) < 4) return
      d.moved = true
      this.tx += dx
      this.ty += dy
      d.x = e.clientX
      d.y = e.clientY
      this.schedule()
    }
    const up = (e: PointerEvent) => {
      const d = this.drag
      this.drag = undefined
      if (!d || d.moved) return
      const r = canvas.getBoundingClientRect()
      const p = this.toWorld(e.clientX - r.left, e.clientY - r.top)
      this.onSelect(hitTest(this.model.positions, p, (NODE_R + 6) / Math.min(1, this.scale)))
    }
    const wheel = (e: WheelEvent) => {
      e.preventDefault()
      const r = canvas.getBoundingClientRect()
      this.zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top)
    }
    canvas.addEventListener('pointerdown', down)
    canvas.addEventListener('pointermove', move)
    canvas.addEventListener('pointerup', up)
    canvas.addEventListener('wheel', wheel, { passive: false })
    this.schedule()
    return () => {
      ro?.disconnect()
      mq?.removeEventListener('change', onScheme)
      canvas.removeEventListener('pointerdown', down)
      canvas.removeEventListener('pointermove', move)
      canvas.removeEventListener('pointerup', up)
      canvas.removeEventListener('wheel', wheel)
      cancelAnimationFrame(this.frame)
      this.frame = 0
      this.canvas = undefined
    }
  }

  setModel(model: GraphModel): void {
    const grew = model.positions.size !== this.model.positions.size
    this.model = model
    if (grew && !this.userMoved) this.fitted = false
    this.schedule()
  }

  private userMoved = false

  /** Keyboard and button controls. */
  zoom(factor: number): void {
    const c = this.canvas
    if (!c) return
    this.zoomAt(factor, c.clientWidth / 2, c.clientHeight / 2)
  }

  pan(dx: number, dy: number): void {
    this.userMoved = true
    this.tx += dx
    this.ty += dy
    this.schedule()
  }

  fit(): void {
    this.userMoved = false
    this.fitted = false
    this.schedule()
  }

  get zoomLevel(): number {
    return this.scale
  }

  private zoomAt(factor: number, sx: number, sy: number): void {
    this.userMoved = true
    const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor))
    const f = next / this.scale
    this.tx = sx - (sx - this.tx) * f
    this.ty = sy - (sy - this.ty) * f
    this.scale = next
    this.schedule()
  }

  private toWorld(sx: number, sy: number): Point {
    return { x: (sx - this.tx) / this.scale, y: (sy - this.ty) / this.scale }
  }

  private schedule(): void {
    if (this.frame || !this.canvas) return
    if (typeof requestAnimationFrame === 'undefined') return
    this.frame = requestAnimationFrame(() => {
      this.frame = 0
      this.paint()
    })
  }

  private readColors(): Colors {
    const cs = getComputedStyle(this.canvas!)
    const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback
    return {
      bg: v('--graph-bg', '#fff'), fg: v('--fg', '#111'), muted: v('--muted', '#666'), edge: v('--edge', '#9aa'),
      edgeFailed: v('--edge-failed', '#d33'), select: v('--accent', '#36c'),
      alive: v('--alive', '#2a2'), suspect: v('--suspect', '#e90'), failed: v('--failed', '#d33'), left: v('--left', '#888'),
    }
  }

  private fitToView(w: number, h: number): void {
    let maxR = 1
    for (const p of this.model.positions.values()) maxR = Math.max(maxR, Math.hypot(p.x, p.y))
    const pad = 60
    this.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, Math.min((w - pad) / (2 * maxR + 80), (h - pad) / (2 * maxR + 80), 1.6)))
    this.tx = w / 2
    this.ty = h / 2
    this.fitted = true
  }

  paint(): void {
    const canvas = this.canvas
    const ctx = this.ctx
    if (!canvas || !ctx) return
    const t0 = performance.now()
    const dpr = window.devicePixelRatio || 1
    const w = canvas.clientWidth
    const h = canvas.clientHeight
    if (w === 0 || h === 0) return
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr)
      canvas.height = Math.round(h * dpr)
    }
    if (!this.fitted) this.fitToView(w, h)
    const c = (this.colors ??= this.readColors())
    const { members, positions, edges, selfId, selectedId } = this.model
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.fillStyle = c.bg
    ctx.fillRect(0, 0, w, h)
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.tx, dpr * this.ty)
    const px = 1 / this.scale // one screen pixel in layout units

    // Edges: working links thin and solid; failed links dashed, thicker, in the failure colour.
    const strokeEdges = (ok: boolean, color: string, width: number, dash: number[]) => {
      ctx.strokeStyle = color
      ctx.lineWidth = width
      ctx.setLineDash(dash)
      ctx.beginPath()
      for (const e of edges) {
        if ((e.kind === 'ok') !== ok) continue
        const a = positions.get(e.from)
        const b = positions.get(e.to)
        if (!a || !b) continue
        ctx.moveTo(a.x, a.y)
        ctx.lineTo(b.x, b.y)
      }
      ctx.stroke()
    }
    strokeEdges(true, c.edge, px, [])
    strokeEdges(false, c.edgeFailed, 2 * px, [6 * px, 4 * px])
    ctx.setLineDash([])

    // Nodes.
    const showAllLabels = members.length <= 60 || this.scale >= 0.9
    const fontPx = 12
    ctx.font = `${fontPx * px}px system-ui, sans-serif`
    ctx.textAlign = 'center'
    ctx.textBaseline = 'top'
    for (const m of members) {
      const p = positions.get(m.id)
      if (!p) continue
      const isSelf = m.id === selfId
      const r = isSelf ? NODE_R * 1.4 : NODE_R
      const col = c[m.status]
      ctx.beginPath()
      ctx.arc(p.x, p.y, r, 0, Math.PI * 2)
      if (m.status === 'left') {
        ctx.lineWidth = 2.5
        ctx.strokeStyle = col
        ctx.stroke()
      } else {
        ctx.fillStyle = col
        ctx.fill()
      }
      if (m.status === 'failed') {
        // A cross, so the state does not depend on colour alone.
        ctx.strokeStyle = c.bg
        ctx.lineWidth = 2.5
        ctx.beginPath()
        ctx.moveTo(p.x - r * 0.5, p.y - r * 0.5)
        ctx.lineTo(p.x + r * 0.5, p.y + r * 0.5)
        ctx.moveTo(p.x + r * 0.5, p.y - r * 0.5)
        ctx.lineTo(p.x - r * 0.5, p.y + r * 0.5)
        ctx.stroke()
      } else if (m.status === 'suspect') {
        ctx.fillStyle = c.bg
        ctx.font = `bold ${r * 1.4}px system-ui, sans-serif`
        ctx.textBaseline = 'middle'
        ctx.fillText('?', p.x, p.y + r * 0.05)
        ctx.textBaseline = 'top'
        ctx.font = `${fontPx * px}px system-ui, sans-serif`
      }
      if (isSelf) {
        ctx.strokeStyle = c.fg
        ctx.lineWidth = 2
        ctx.beginPath()
        ctx.arc(p.x, p.y, r + 4, 0, Math.PI * 2)
        ctx.stroke()
      }
      if (m.id === selectedId) {
        ctx.strokeStyle = c.select
        ctx.lineWidth = 3 * px
        ctx.beginPath()
        ctx.arc(p.x, p.y, r + 8, 0, Math.PI * 2)
        ctx.stroke()
      }
      if (showAllLabels || isSelf || m.id === selectedId || m.status !== 'alive') {
        const label = (isSelf ? `${m.name} (you)` : m.name) + (m.status === 'alive' ? '' : ` · ${m.status}`)
        ctx.fillStyle = m.status === 'alive' ? c.fg : col
        ctx.fillText(label, p.x, p.y + r + 4 * px + 2)
      }
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0)
    this.lastPaintMs = performance.now() - t0
  }
}
