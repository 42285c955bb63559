// Local control socket: how `rollcall status`, `rollcall events --follow` and friends talk to the
// running agent. A Unix socket in the 0700 data dir (a named pipe on Windows), so only the agent's
// user can connect: the file permissions are the access check.
//
// Protocol: newline-delimited JSON.
//   request   {"id": 1, "cmd": "members", "args": {...}}
//   response  {"id": 1, "ok": true, "result": ...}  |  {"id": 1, "ok": false, "error": {"name", "message"}}
//   follow    first {"id", "ok": true, "result": {"following": true}}, then {"id", "ok": true, "event": ...}
//             per event until either side closes.
// Errors not tied to a request (bad JSON, line too long, server full) carry "id": null.

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { DataDirError, errCode } from './datadir.js'
import { AgentRunningError } from './lock.js'

export const SOCKET_FILE = 'control.sock'
/** A request is a command and small arguments; anything longer is a broken or hostile client. */
export const MAX_REQUEST_LINE_BYTES = 64 * 1024
/** Responses can hold the whole member list (16,384 members × a few hundred bytes). */
export const MAX_RESPONSE_LINE_BYTES = 16 * 1024 * 1024
/** Concurrent CLI connections; each `events --follow` holds one. */
export const MAX_CLIENTS = 16
/** Requests one connection may have running at once; reading pauses beyond this. */
export const MAX_INFLIGHT_PER_CLIENT = 8
/** Unsent output per connection; a follower that stops reading is dropped past this. */
export const MAX_CLIENT_WRITE_BUFFER_BYTES = 32 * 1024 * 1024
/** Error messages sent to clients are cut to this. */
const MAX_ERROR_MESSAGE_CHARS = 1000
/** How long startControlServer waits for an existing socket to answer before calling it stale. */
const STALE_PROBE_TIMEOUT_MS = 1000
/** sun_path is 108 bytes on Linux, 104 on macOS, NUL included. */
const MAX_UNIX_SOCKET_PATH_BYTES = 103

export type CommandFn = (args: unknown) => unknown
/** Streams events to one client: call push per event; return the unsubscribe function. */
export type FollowFn = (args: unknown, push: (event: unknown) => void) => () => void

/**
 * Command name → implementation (may be async). The optional `follow` entry serves streaming
 * requests (cmd "follow"). Only own properties count, so "constructor" and the like are unknown.
 */
export interface ControlHandler {
  [cmd: string]: ((args: unknown, push: (event: unknown) => void) => unknown) | undefined
  follow?: FollowFn
}

export interface ControlServer {
  /** The socket path (or pipe name on Windows). */
  readonly path: string
  readonly clientCount: number
  /** Stops listening, disconnects clients, ends their follows and removes the socket file. Safe to repeat. */
  close(): Promise<void>
}

export class NoAgentError extends Error {
  override name = 'NoAgentError'
  constructor(
    readonly dir: string,
    options?: { cause?: unknown },
  ) {
    super(`no rollcall agent is running for data dir ${dir} (start one with \`rollcall agent\`)`, options)
  }
}

export class ControlTimeoutError extends Error {
  override name = 'ControlTimeoutError'
}

export class ControlProtocolError extends Error {
  override name = 'ControlProtocolError'
}

/** Where the agent for `dir` listens. Windows pipes live in a flat namespace, hence the hash. */
export function controlSocketPath(dir: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') {
    const hash = createHash('sha256').update(path.win32.resolve(dir).toLowerCase()).digest('hex').slice(0, 16)
    return `\\\\.\\pipe\\rollcall-${hash}`
  }
  return path.join(path.resolve(dir), SOCKET_FILE)
}

// ---------------------------------------------------------------------------------------------
// Server

/**
 * Listens on the data dir's control socket. Throws AgentRunningError if another agent answers on
 * it; removes a stale socket file left by a crashed agent. `dir` should exist with mode 0700
 * (ensureDataDir): chmod 0600 on the socket follows listen(), and the directory covers the gap.
 */
export async function startControlServer(dir: string, handler: ControlHandler): Promise<ControlServer> {
  const sockPath = controlSocketPath(dir)
  const isPipe = process.platform === 'win32'
  if (!isPipe) {
    if (Buffer.byteLength(sockPath) > MAX_UNIX_SOCKET_PATH_BYTES) {
      throw new DataDirError(`control socket path ${sockPath} is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes (a Unix socket limit); choose a shorter data dir`, sockPath)
    }
    await removeStaleSocket(dir, sockPath)
  }

  const clients = new Set<ClientConn>()
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (clients.size >= MAX_CLIENTS) {
      socket.on('error', () => {})
      socket.write(encode({ id: null, ok: false, error: { name: 'TooManyClientsError', message: `the agent serves at most ${MAX_CLIENTS} control clients at once` } }))
      socket.destroySoon()
      return
    }
    const conn = new ClientConn(socket, handler, () => clients.delete(conn))
    clients.add(conn)
  })

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      if (errCode(err) === 'EADDRINUSE') reject(new AgentRunningError(dir))
      else reject(err)
    }
    server.once('error', onError)
    server.listen(sockPath, () => {
      server.off('error', onError)
      resolve()
    })
  })
  if (!isPipe) {
    try {
      fs.chmodSync(sockPath, 0o600)
    } catch (err) {
      server.close()
      throw err
    }
  }
  // Later errors on the listening socket (rare: EMFILE on accept) must not crash the agent.
  server.on('error', () => {})

  let closing: Promise<void> | undefined
  return {
    path: sockPath,
    get clientCount() {
      return clients.size
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const c of clients) c.destroy()
        server.close(() => {
          if (!isPipe) {
            try {
              fs.unlinkSync(sockPath)
            } catch {
              // libuv usually removes it on close.
            }
          }
          resolve()
        })
      })
      return closing
    },
  }
}

/** A socket file nobody answers on is left by a crashed agent; one that answers means a live agent. */
async function removeStaleSocket(dir: string, sockPath: string): Promise<void> {
  let st: fs.Stats
  try {
    st = fs.lstatSync(sockPath)
  } catch (err) {
    if (errCode(err) === 'ENOENT') return
    throw err
  }
  if (!st.isSocket()) throw new DataDirError(`${sockPath} exists and is not a socket; remove it to start the agent`, sockPath)
  const live = await new Promise<boolean>((resolve) => {
    const s = net.createConnection(sockPath)
    const timer = setTimeout(() => {
      s.destroy()
      resolve(true) // accepted the connection but is slow: still someone's live socket
    }, STALE_PROBE_TIMEOUT_MS)
    s.once('connect', () => {
      clearTimeout(timer)
      s.destroy()
      resolve(true)
    })
    s.once('error', () => {
      clearTimeout(timer)
      resolve(false)
    })
  })
  if (live) throw new AgentRunningError(dir)
  try {
    fs.unlinkSync(sockPath)
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err
  }
}

interface WireError {
  name: string
  message: string
}

type Response =
  | { id: number | null; ok: true; result: unknown }
  | { id: number; ok: true; event: unknown }
  | { id: number | null; ok: false; error: WireError }

function encode(res: Response): string {
  return JSON.stringify(res) + '\n'
}

function toWireError(err: unknown): WireError {
  const name = err instanceof Error && typeof err.name === 'string' ? err.name : 'Error'
  const message = err instanceof Error ? err.message : String(err)
  return { name, message: message.length > MAX_ERROR_MESSAGE_CHARS ? message.slice(0, MAX_ERROR_MESSAGE_CHARS) + '…' : message }
}

/** One connected client: reads request lines, runs them with bounded concurrency, writes responses. */
class ClientConn {
  private buf = ''
  private inflight = 0
  private unfollow: (() => void) | undefined
  private closed = false

  constructor(
    private readonly socket: net.Socket,
    private readonly handler: ControlHandler,
    private readonly onClose: () => void,
  ) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      if (this.closed) return
      this.buf += chunk
      this.pump()
    })
    socket.on('error', () => this.destroy())
    socket.on('close', () => this.destroy())
    // The server is half-open: a client that ends its side after the request still gets the answer.
    // A follower that ends its side has gone away.
    socket.on('end', () => (this.unfollow ? this.destroy() : this.endIfIdle()))
  }

  /** Drops the connection now. */
  destroy(): void {
    this.shutdown()
    this.socket.destroy()
  }

  private shutdown(): void {
    if (this.closed) return
    this.closed = true
    this.buf = ''
    const unfollow = this.unfollow
    this.unfollow = undefined
    try {
      unfollow?.()
    } catch {
      // The handler's cleanup failing must not keep the connection around.
    }
    this.onClose()
  }

  private endIfIdle(): void {
    if (!this.closed && this.socket.readableEnded && this.inflight === 0 && !this.unfollow) {
      this.shutdown()
      this.socket.end()
    }
  }

  private pump(): void {
    while (!this.closed && this.inflight < MAX_INFLIGHT_PER_CLIENT) {
      const nl = this.buf.indexOf('\n')
      if (nl < 0) break
      const line = this.buf.slice(0, nl)
      this.buf = this.buf.slice(nl + 1)
      if (Buffer.byteLength(line) > MAX_REQUEST_LINE_BYTES) return this.failAndClose(null, 'RequestTooLargeError', `request line longer than ${MAX_REQUEST_LINE_BYTES} bytes`)
      if (line.trim() !== '') this.handleLine(line)
    }
    if (this.closed) return
    // A line still without its newline is bounded here; complete lines waiting are bounded by pausing.
    if (this.buf.indexOf('\n') < 0 && Buffer.byteLength(this.buf) > MAX_REQUEST_LINE_BYTES) {
      return this.failAndClose(null, 'RequestTooLargeError', `request line longer than ${MAX_REQUEST_LINE_BYTES} bytes`)
    }
    if (this.inflight >= MAX_INFLIGHT_PER_CLIENT) this.socket.pause()
    else this.socket.resume()
  }

  private handleLine(line: string): void {
    let req: unknown
    try {
      req = JSON.parse(line)
    } catch (err) {
      return this.send({ id: null, ok: false, error: { name: 'BadRequestError', message: `invalid JSON: ${(err as Error).message}` } })
    }
    const r = (typeof req === 'object' && req !== null ? req : {}) as { id?: unknown; cmd?: unknown; args?: unknown }
    const id = Number.isSafeInteger(r.id) ? (r.id as number) : null
    if (id === null || typeof r.cmd !== 'string') {
      return this.send({ id, ok: false, error: { name: 'BadRequestError', message: 'a request is {"id": <integer>, "cmd": <string>, "args"?: <object>}' } })
    }
    const cmd = r.cmd
    if (cmd === 'follow') return this.startFollow(id, r.args)
    const fn = Object.hasOwn(this.handler, cmd) ? this.handler[cmd] : undefined
    if (typeof fn !== 'function') {
      return this.send({ id, ok: false, error: { name: 'UnknownCommandError', message: `unknown command ${JSON.stringify(cmd.slice(0, 64))}` } })
    }
    this.inflight++
    Promise.resolve()
      .then(() => (fn as CommandFn).call(this.handler, r.args))
      .then(
        (result) => this.send({ id, ok: true, result: result === undefined ? null : result }),
        (err) => this.send({ id, ok: false, error: toWireError(err) }),
      )
      .finally(() => {
        this.inflight--
        if (this.closed) return
        this.pump()
        this.endIfIdle()
      })
  }

  private startFollow(id: number, args: unknown): void {
    const follow = this.handler.follow
    if (typeof follow !== 'function') return this.send({ id, ok: false, error: { name: 'UnknownCommandError', message: 'this agent does not stream events' } })
    if (this.unfollow) return this.send({ id, ok: false, error: { name: 'BadRequestError', message: 'one follow per connection' } })
    this.send({ id, ok: true, result: { following: true } })
    let unfollow: () => void
    try {
      unfollow = follow.call(this.handler, args, (event) => this.send({ id, ok: true, event }))
    } catch (err) {
      const e = toWireError(err)
      return this.failAndClose(id, e.name, e.message)
    }
    if (this.closed) unfollow()
    else this.unfollow = unfollow
  }

  /** Sends the error, then closes once it is written: the rest of the input cannot be trusted. */
  private failAndClose(id: number | null, name: string, message: string): void {
    this.send({ id, ok: false, error: { name, message } })
    this.shutdown()
    this.socket.destroySoon()
  }

  private send(res: Response): void {
    if (this.closed) return
    let line: string
    try {
      line = encode(res)
    } catch (err) {
      line = encode({ id: res.id, ok: false, error: { name: 'ResultNotSerializableError', message: `result is not JSON: ${(err as Error).message}` } })
    }
    if (Buffer.byteLength(line) > MAX_RESPONSE_LINE_BYTES) {
      line = encode({ id: res.id, ok: false, error: { name: 'ResponseTooLargeError', message: `response longer than ${MAX_RESPONSE_LINE_BYTES} bytes` } })
    }
    this.socket.write(line)
    // A client that does not read (a stuck follower) must not grow our memory.
    if (this.socket.writableLength > MAX_CLIENT_WRITE_BUFFER_BYTES) this.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// Client

export interface ControlRequestOptions {
  /** Whole request, connect to answer. */
  timeoutMs?: number
}

/**
 * Sends one command to the agent for `dir` and returns its result. Throws NoAgentError when no
 * agent listens, ControlTimeoutError after timeoutMs (default 5000), and an Error carrying the
 * agent's error name and message when the command failed there.
 */
export function controlRequest(dir: string, cmd: string, args?: unknown, opts: ControlRequestOptions = {}): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? 5000
  const id = 1
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(controlSocketPath(dir))
    let settled = false
    const finish = (err: Error | undefined, result?: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(result)
    }
    const timer = setTimeout(() => finish(new ControlTimeoutError(`the agent for ${dir} did not answer "${cmd}" within ${timeoutMs} ms`)), timeoutMs)
    socket.on('error', (err) => finish(connectError(dir, err)))
    socket.on('close', () => finish(new ControlProtocolError(`the agent for ${dir} closed the connection before answering "${cmd}"`)))
    socket.on('connect', () => {
      socket.write(JSON.stringify({ id, cmd, args }) + '\n')
    })
    readLines(socket, MAX_RESPONSE_LINE_BYTES, (line) => {
      const res = parseResponse(line)
      if (res instanceof Error) return finish(res)
      if (res.ok === false && (res.id === id || res.id === null)) return finish(remoteError(res.error))
      if (res.id === id && res.ok === true && 'result' in res) return finish(undefined, res.result)
    }, (err) => finish(err))
  })
}

export interface ControlFollow {
  /** Resolves once the agent has subscribed us; rejects like controlRequest. */
  readonly ready: Promise<void>
  /** Settles when the stream ends: resolves on close() or the agent closing, rejects on errors. */
  readonly closed: Promise<void>
  close(): void
}

/** Streams events from the agent for `dir` (cmd "follow") until close(). */
export function controlFollow(dir: string, args: unknown, onEvent: (event: unknown) => void): ControlFollow {
  const id = 1
  const socket = net.createConnection(controlSocketPath(dir))
  let resolveReady!: () => void
  let rejectReady!: (err: Error) => void
  let resolveClosed!: () => void
  let rejectClosed!: (err: Error) => void
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res
    rejectReady = rej
  })
  const closed = new Promise<void>((res, rej) => {
    resolveClosed = res
    rejectClosed = rej
  })
  // Callers may await only one of the two; the other must not become an unhandled rejection.
  ready.catch(() => {})
  closed.catch(() => {})
  let isReady = false
  let ended = false
  const end = (err?: Error) => {
    if (ended) return
    ended = true
    socket.destroy()
    if (err) {
      rejectReady(err)
      rejectClosed(err)
    } else {
      if (!isReady) rejectReady(new ControlProtocolError(`the agent for ${dir} closed the stream before it started`))
      resolveClosed()
    }
  }
  socket.on('error', (err) => end(connectError(dir, err)))
  socket.on('close', () => end())
  socket.on('connect', () => socket.write(JSON.stringify({ id, cmd: 'follow', args }) + '\n'))
  readLines(socket, MAX_RESPONSE_LINE_BYTES, (line) => {
    const res = parseResponse(line)
    if (res instanceof Error) return end(res)
    if (res.ok === false) return end(remoteError(res.error))
    if (res.id !== id) return
    if ('event' in res) {
      try {
        onEvent(res.event)
      } catch (err) {
        end(err instanceof Error ? err : new Error(String(err)))
      }
    } else if (!isReady) {
      isReady = true
      resolveReady()
    }
  }, (err) => end(err))
  return { ready, closed, close: () => end() }
}

/** Calls onLine per complete line; a line longer than maxLineBytes is a protocol error. */
function readLines(socket: net.Socket, maxLineBytes: number, onLine: (line: string) => void, onError: (err: Error) => void): void {
  let buf = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buf += chunk
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.trim() !== '') onLine(line)
      if (socket.destroyed) return
    }
    if (buf.length > maxLineBytes) onError(new ControlProtocolError(`response line longer than ${maxLineBytes} bytes`))
  })
}

type ParsedResponse =
  | { id: number | null; ok: true; result: unknown }
  | { id: number | null; ok: true; event: unknown }
  | { id: number | null; ok: false; error: WireError }

function parseResponse(line: string): ParsedResponse | Error {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return new ControlProtocolError('the agent sent invalid JSON')
  }
  if (typeof v !== 'object' || v === null || typeof (v as { ok?: unknown }).ok !== 'boolean') {
    return new ControlProtocolError('the agent sent a malformed response')
  }
  const r = v as { id?: unknown; ok: boolean; error?: unknown }
  if (r.id !== null && !Number.isSafeInteger(r.id)) return new ControlProtocolError('the agent sent a response without an id')
  if (!r.ok) {
    const e = (typeof r.error === 'object' && r.error !== null ? r.error : {}) as { name?: unknown; message?: unknown }
    return { id: r.id as number | null, ok: false, error: { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : 'unknown error' } }
  }
  return v as ParsedResponse
}

function remoteError(e: WireError): Error {
  const err = new Error(e.message)
  err.name = e.name
  return err
}

function connectError(dir: string, err: Error): Error {
  const code = errCode(err)
  // ENOENT: no socket file (or no pipe); ECONNREFUSED: a socket file left by a crashed agent.
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return new NoAgentError(dir, { cause: err })
  if (code === 'EACCES' || code === 'EPERM') {
    return Object.assign(new Error(`permission denied on the control socket of ${dir}: the agent runs as another user`, { cause: err }), { name: 'ControlPermissionError' })
  }
  return err
}
