import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type ControlHandler,
  type ControlServer,
  ControlTimeoutError,
  controlFollow,
  controlRequest,
  controlSocketPath,
  MAX_CLIENTS,
  MAX_REQUEST_LINE_BYTES,
  NoAgentError,
  startControlServer,
} from '../../core/node/control.js'
import { ensureDataDir } from '../../core/node/datadir.js'
import { EventLog, type LogEntry } from '../../core/node/eventlog.js'
import { AgentRunningError } from '../../core/node/lock.js'
import { sampleEntry, tempDir } from './helpers.js'

const posix = process.platform !== 'win32'

let dir: string
let cleanup: () => void
const servers: ControlServer[] = []
beforeEach(() => {
  ;({ dir, cleanup } = tempDir('rc-'))
  ensureDataDir(dir)
})
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
  cleanup()
})

async function start(handler: ControlHandler): Promise<ControlServer> {
  const s = await startControlServer(dir, handler)
  servers.push(s)
  return s
}

/** Sends raw bytes and collects the response lines until the server closes or `count` arrive. */
function rawExchange(data: string, count: number, endAfterWrite = false): Promise<{ lines: unknown[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(controlSocketPath(dir))
    const lines: unknown[] = []
    let buf = ''
    const done = (closed: boolean) => {
      socket.destroy()
      resolve({ lines, closed })
    }
    socket.setEncoding('utf8')
    socket.on('connect', () => {
      socket.write(data)
      if (endAfterWrite) socket.end()
    })
    socket.on('data', (chunk: string) => {
      buf += chunk
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)))
        buf = buf.slice(nl + 1)
      }
      if (lines.length >= count) done(false)
    })
    socket.on('close', () => done(true))
    socket.on('error', reject)
  })
}

/** A socket file with nobody behind it, as a SIGKILLed agent leaves. */
async function makeStaleSocket(sockPath: string): Promise<void> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(sockPath, resolve))
  const keep = `${sockPath}.keep`
  fs.linkSync(sockPath, keep)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  fs.rmSync(sockPath, { force: true })
  fs.renameSync(keep, sockPath)
}

function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) resolve()
      else if (Date.now() > deadline) reject(new Error('condition not met in time'))
      else setTimeout(check, 5)
    }
    check()
  })
}

describe('controlRequest', () => {
  it('returns the result of sync and async commands, passing args', async () => {
    await start({
      ping: () => 'pong',
      echo: async (args) => ({ got: args }),
      nothing: () => undefined,
    })
    expect(await controlRequest(dir, 'ping')).toBe('pong')
    expect(await controlRequest(dir, 'echo', { a: [1, 2] })).toEqual({ got: { a: [1, 2] } })
    expect(await controlRequest(dir, 'nothing')).toBeNull()
  })

  it('rethrows a command error with its name and message', async () => {
    await start({
      fail: () => {
        throw Object.assign(new Error('not joined yet'), { name: 'NotJoinedError' })
      },
    })
    const err = await controlRequest(dir, 'fail').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({ name: 'NotJoinedError', message: 'not joined yet' })
  })

  it('answers an unknown command with UnknownCommandError, prototype names included', async () => {
    await start({ ping: () => 'pong' })
    await expect(controlRequest(dir, 'nope')).rejects.toMatchObject({ name: 'UnknownCommandError', message: 'unknown command "nope"' })
    await expect(controlRequest(dir, 'constructor')).rejects.toMatchObject({ name: 'UnknownCommandError' })
    await expect(controlRequest(dir, 'follow')).rejects.toMatchObject({ name: 'UnknownCommandError' })
  })

  it('calls handler methods with the handler as this; only own functions are commands', async () => {
    const handler = {
      selfName: 'lab-01',
      self() {
        return this.selfName
      },
    }
    await start(handler as unknown as ControlHandler)
    expect(await controlRequest(dir, 'self')).toBe('lab-01')
    await expect(controlRequest(dir, 'selfName')).rejects.toMatchObject({ name: 'UnknownCommandError' })
    await expect(controlRequest(dir, 'hasOwnProperty')).rejects.toMatchObject({ name: 'UnknownCommandError' })
  })

  it('throws NoAgentError when no socket exists', async () => {
    const err = await controlRequest(dir, 'ping').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NoAgentError)
    expect((err as Error).message).toBe(`no rollcall agent is running for data dir ${dir} (start one with \`rollcall agent\`)`)
  })

  it.runIf(posix)('throws NoAgentError on a stale socket file', async () => {
    await makeStaleSocket(controlSocketPath(dir))
    await expect(controlRequest(dir, 'ping')).rejects.toBeInstanceOf(NoAgentError)
  })

  it('times out with ControlTimeoutError when the agent does not answer', async () => {
    await start({ hang: () => new Promise(() => {}) })
    await expect(controlRequest(dir, 'hang', undefined, { timeoutMs: 100 })).rejects.toBeInstanceOf(ControlTimeoutError)
  })
})

describe('startControlServer', () => {
  it.runIf(posix)('creates the socket with mode 0600 and removes it on close', async () => {
    const s = await start({})
    expect(s.path).toBe(path.join(dir, 'control.sock'))
    const st = fs.statSync(s.path)
    expect(st.isSocket()).toBe(true)
    expect(st.mode & 0o777).toBe(0o600)
    await s.close()
    await s.close()
    expect(fs.existsSync(s.path)).toBe(false)
  })

  it('refuses to start while another agent answers on the socket', async () => {
    await start({})
    await expect(startControlServer(dir, {})).rejects.toBeInstanceOf(AgentRunningError)
  })

  it.runIf(posix)('replaces a stale socket file', async () => {
    await makeStaleSocket(controlSocketPath(dir))
    await start({ ping: () => 'pong' })
    expect(await controlRequest(dir, 'ping')).toBe('pong')
  })

  it.runIf(posix)('refuses to remove a non-socket file at the socket path', async () => {
    fs.writeFileSync(controlSocketPath(dir), 'x')
    await expect(startControlServer(dir, {})).rejects.toThrow(/is not a socket/)
  })

  it('answers invalid JSON and malformed requests with errors and keeps serving', async () => {
    await start({ ping: () => 'pong' })
    const { lines } = await rawExchange('not json\n{"cmd":"ping"}\n[]\n{"id":7,"cmd":"ping"}\n', 4)
    expect(lines).toEqual([
      { id: null, ok: false, error: { name: 'BadRequestError', message: expect.stringMatching(/^invalid JSON/) } },
      { id: null, ok: false, error: { name: 'BadRequestError', message: expect.any(String) } },
      { id: null, ok: false, error: { name: 'BadRequestError', message: expect.any(String) } },
      { id: 7, ok: true, result: 'pong' },
    ])
  })

  it('rejects a request line over 64 KiB and closes the connection', async () => {
    await start({ ping: () => 'pong' })
    const big = `{"id":1,"cmd":"ping","args":"${'x'.repeat(MAX_REQUEST_LINE_BYTES)}"}`
    const unterminated = await rawExchange(big, 99)
    expect(unterminated.closed).toBe(true)
    expect(unterminated.lines).toEqual([{ id: null, ok: false, error: { name: 'RequestTooLargeError', message: expect.any(String) } }])
    const terminated = await rawExchange(`{"id":1,"cmd":"ping"}\n${big}\n{"id":2,"cmd":"ping"}\n`, 99)
    expect(terminated.closed).toBe(true)
    // The first ping may or may not be answered before the oversized line arrives; nothing after it is.
    expect(terminated.lines.at(-1)).toEqual({ id: null, ok: false, error: { name: 'RequestTooLargeError', message: expect.any(String) } })
    expect(terminated.lines.slice(0, -1)).toEqual(terminated.lines.length === 2 ? [{ id: 1, ok: true, result: 'pong' }] : [])
    // The server is still fine for others.
    expect(await controlRequest(dir, 'ping')).toBe('pong')
  })

  it('answers pipelined requests and a client that half-closes after writing', async () => {
    await start({ echo: async (args) => args })
    const reqs = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i + 1, cmd: 'echo', args: i }) + '\n').join('')
    const { lines } = await rawExchange(reqs, 20, true)
    expect((lines as { id: number; result: number }[]).map((l) => l.result).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('limits concurrent clients', async () => {
    const s = await start({ hang: () => new Promise(() => {}) })
    const sockets: net.Socket[] = []
    try {
      for (let i = 0; i < MAX_CLIENTS; i++) {
        const sock = net.createConnection(controlSocketPath(dir))
        sock.on('error', () => {})
        sockets.push(sock)
      }
      await until(() => s.clientCount === MAX_CLIENTS)
      await expect(controlRequest(dir, 'hang')).rejects.toMatchObject({ name: 'TooManyClientsError' })
    } finally {
      for (const sock of sockets) sock.destroy()
    }
    await until(() => s.clientCount === 0)
  })
})

describe('controlFollow', () => {
  it('streams pushed events until closed, then unsubscribes', async () => {
    const pushes = new Set<(ev: unknown) => void>()
    let unsubscribed = 0
    let gotArgs: unknown
    await start({
      follow: (args, push) => {
        gotArgs = args
        pushes.add(push)
        return () => {
          pushes.delete(push)
          unsubscribed++
        }
      },
    })
    const events: unknown[] = []
    const f = controlFollow(dir, { sinceSeq: 3 }, (ev) => events.push(ev))
    await f.ready
    expect(gotArgs).toEqual({ sinceSeq: 3 })
    for (const push of pushes) {
      push({ seq: 4 })
      push({ seq: 5 })
    }
    await until(() => events.length === 2)
    expect(events).toEqual([{ seq: 4 }, { seq: 5 }])
    f.close()
    await f.closed
    await until(() => unsubscribed === 1)
    expect(pushes.size).toBe(0)
  })

  it('streams an EventLog from a seq on (the agent wiring)', async () => {
    const log = EventLog.open(dir)
    try {
      for (let i = 1; i <= 3; i++) log.append(sampleEntry(i))
      await start({ follow: (args, push) => log.follow((args as { fromSeq: number }).fromSeq, push) })
      const seqs: number[] = []
      const f = controlFollow(dir, { fromSeq: 2 }, (ev) => seqs.push((ev as LogEntry).seq))
      await f.ready
      log.append(sampleEntry(4))
      await until(() => seqs.length === 3)
      expect(seqs).toEqual([2, 3, 4])
      f.close()
    } finally {
      log.close()
    }
  })

  it('rejects ready with NoAgentError when no agent runs', async () => {
    const f = controlFollow(dir, {}, () => {})
    await expect(f.ready).rejects.toBeInstanceOf(NoAgentError)
    await expect(f.closed).rejects.toBeInstanceOf(NoAgentError)
  })

  it('ends the stream when the agent closes', async () => {
    const s = await start({ follow: () => () => {} })
    const f = controlFollow(dir, {}, () => {})
    await f.ready
    await s.close()
    await expect(f.closed).resolves.toBeUndefined()
  })

  it('reports a follow handler error', async () => {
    await start({
      follow: () => {
        throw Object.assign(new Error('bad since'), { name: 'UsageError' })
      },
    })
    const f = controlFollow(dir, {}, () => {})
    await f.ready // the subscription is acknowledged before the handler runs
    await expect(f.closed).rejects.toMatchObject({ name: 'UsageError', message: 'bad since' })
  })
})
