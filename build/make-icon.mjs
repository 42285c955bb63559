// Draws build/icon.png (512×512): a ring of peers around a marked centre node, on a rounded
// square. Plain Node (zlib + a tiny PNG encoder), so the icon can be regenerated anywhere.
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'

const N = 512
const px = new Float32Array(N * N * 4)

function blend(x, y, [r, g, b], a) {
  if (x < 0 || y < 0 || x >= N || y >= N || a <= 0) return
  const i = (y * N + x) * 4
  const A = px[i + 3]
  const out = a + A * (1 - a)
  for (const [k, c] of [[0, r], [1, g], [2, b]]) px[i + k] = out === 0 ? 0 : (c * a + px[i + k] * A * (1 - a)) / out
  px[i + 3] = out
}

/** Anti-aliased shape from a signed distance function (negative inside). */
function shape(sdf, color, alpha = 1) {
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    const d = sdf(x + 0.5, y + 0.5)
    const cov = Math.max(0, Math.min(1, 0.5 - d))
    if (cov > 0) blend(x, y, color, cov * alpha)
  }
}

const circle = (cx, cy, r) => (x, y) => Math.hypot(x - cx, y - cy) - r
const ring = (cx, cy, r, w) => (x, y) => Math.abs(Math.hypot(x - cx, y - cy) - r) - w / 2
const roundRect = (x0, y0, x1, y1, r) => (x, y) => {
  const qx = Math.abs(x - (x0 + x1) / 2) - ((x1 - x0) / 2 - r)
  const qy = Math.abs(y - (y0 + y1) / 2) - ((y1 - y0) / 2 - r)
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r
}
const segment = (ax, ay, bx, by, w) => (x, y) => {
  const pax = x - ax, pay = y - ay, bax = bx - ax, bay = by - ay
  const h = Math.max(0, Math.min(1, (pax * bax + pay * bay) / (bax * bax + bay * bay)))
  return Math.hypot(pax - bax * h, pay - bay * h) - w / 2
}

const C = 256
shape(roundRect(16, 16, 496, 496, 96), [35, 96, 196])
const peers = 8
const R = 150
const green = [63, 191, 102], white = [255, 255, 255], red = [255, 90, 82]
for (let k = 0; k < peers; k++) {
  const a = -Math.PI / 2 + (2 * Math.PI * k) / peers
  const x = C + R * Math.cos(a), y = C + R * Math.sin(a)
  shape(segment(C, C, x, y, 10), white, k === 3 ? 0 : 0.55)
}
for (let k = 0; k < peers; k++) {
  const a = -Math.PI / 2 + (2 * Math.PI * k) / peers
  const x = C + R * Math.cos(a), y = C + R * Math.sin(a)
  shape(circle(x, y, 34), k === 3 ? red : green)
  shape(ring(x, y, 34, 8), white)
}
shape(circle(C, C, 52), white)
shape(ring(C, C, 70, 10), white)

// PNG encoding (RGBA, 8 bit).
const raw = Buffer.alloc(N * (N * 4 + 1))
for (let y = 0; y < N; y++) {
  raw[y * (N * 4 + 1)] = 0
  for (let x = 0; x < N; x++) for (let k = 0; k < 4; k++) {
    const v = k === 3 ? px[(y * N + x) * 4 + 3] * 255 : px[(y * N + x) * 4 + k]
    raw[y * (N * 4 + 1) + 1 + x * 4 + k] = Math.round(Math.max(0, Math.min(255, v)))
  }
}
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
const crc = (buf) => {
  let c = 0xffffffff
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
const chunk = (type, data) => {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type), data])
  const c = Buffer.alloc(4)
  c.writeUInt32BE(crc(td))
  return Buffer.concat([len, td, c])
}
const ihdr = Buffer.alloc(13)
ihdr.writeUInt32BE(N, 0)
ihdr.writeUInt32BE(N, 4)
ihdr[8] = 8
ihdr[9] = 6
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))])
const out = path.join(import.meta.dirname, 'icon.png')
fs.writeFileSync(out, png)
console.log(`wrote ${out} (${png.length} bytes)`)
