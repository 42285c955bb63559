import { describe, expect, it } from 'vitest'
import { argValidators, COMMAND_NAMES, ContractError, parseWireRequest, validateCommand, validateSettings, MAX_INBOUND_MESSAGE_BYTES } from '../../core/contract.js'

const good = { name: 'lab-07', group: 'lab-b', groupKeyFile: '', bootstrap: ['/ip4/10.0.0.7/tcp/4001'], mdnsInterface: 'eth0', autoJoin: true }

describe('validateCommand', () => {
  it('knows every command and nothing else', () => {
    expect(Object.keys(argValidators).sort()).toEqual([...COMMAND_NAMES].sort())
    expect(() => validateCommand('eval', undefined)).toThrow(ContractError)
    expect(() => validateCommand('__proto__', undefined)).toThrow(/unknown command/)
    expect(() => validateCommand(42, undefined)).toThrow(ContractError)
  })

  it('rejects arguments to commands that take none', () => {
    expect(validateCommand('join', undefined).args).toEqual([])
    expect(() => validateCommand('join', { force: true })).toThrow(/takes no argument/)
  })

  it.each([
    [{ format: 'xml' }, /format/],
    [{ format: 'csv', path: '/etc/passwd' }, /unknown field/],
    ['csv', /must be an object/],
    [null, /must be an object/],
  ])('exportLog rejects %j', (arg, msg) => {
    expect(() => validateCommand('exportLog', arg)).toThrow(msg)
  })

  it('getEvents accepts a bounded query only', () => {
    expect(validateCommand('getEvents', { last: 10 }).args).toEqual([{ last: 10 }])
    expect(validateCommand('getEvents', undefined).args).toEqual([{}])
    expect(() => validateCommand('getEvents', { last: 1e9 })).toThrow(/last/)
    expect(() => validateCommand('getEvents', { sinceSeq: -1 })).toThrow(/sinceSeq/)
    expect(() => validateCommand('getEvents', { last: 1.5 })).toThrow(/last/)
  })
})

describe('validateSettings', () => {
  it('returns a fresh object with only known fields', () => {
    const v = validateSettings({ ...good })
    expect(v).toEqual(good)
    expect(v).not.toBe(good)
  })

  it.each([
    [{ ...good, name: '' }, /name/],
    [{ ...good, name: 'x'.repeat(65) }, /name/],
    [{ ...good, group: 'a b' }, /group/],
    [{ ...good, bootstrap: 'x' }, /bootstrap/],
    [{ ...good, bootstrap: ['not a multiaddr'] }, /multiaddr/],
    [{ ...good, bootstrap: Array(33).fill('/ip4/1.2.3.4/tcp/1') }, /at most/],
    [{ ...good, mdnsInterface: 'eth0; rm -rf /' }, /interface/],
    [{ ...good, autoJoin: 'yes' }, /autoJoin/],
    [{ ...good, name: 'a\u0000b' }, /control/],
    [{ ...good, extra: 1 }, /unknown field/],
  ])('rejects %j', (s, msg) => {
    expect(() => validateSettings(s)).toThrow(msg)
  })
})

describe('parseWireRequest', () => {
  it('parses a well-formed envelope', () => {
    expect(parseWireRequest(JSON.stringify({ id: 1, cmd: 'join', token: 't' }))).toEqual({ id: 1, cmd: 'join', arg: undefined, token: 't' })
  })
  it.each([
    ['not json', /not JSON/],
    ['[]', /object/],
    [JSON.stringify({ id: -1, cmd: 'join', token: 't' }), /id/],
    [JSON.stringify({ id: 1, cmd: 'join' }), /token/],
    [JSON.stringify({ id: 1, cmd: 'join', token: 't', x: 1 }), /unknown field/],
    ['x'.repeat(MAX_INBOUND_MESSAGE_BYTES + 1), /too large/],
  ])('rejects %s', (text, msg) => {
    expect(() => parseWireRequest(text)).toThrow(msg)
  })
})
