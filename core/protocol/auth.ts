// Self-statement authentication. A member's alive and left records are signed by the member,
// so any node can forward them and nobody else can forge them (MODEL.md §2, "authority").
// The canonical bytes are pure; the signing itself is a component passed in.

import { hashString } from './digest.js'
import type { Authenticator, MemberMeta, MemberRecord } from './types.js'

/** The self-statement a record carries: alive (also behind suspect/failed) or left, with meta. */
export function selfStatement(rec: MemberRecord): string {
  const status = rec.status === 'left' ? 'left' : 'alive'
  return `rollcall/1\n${rec.id}\n${rec.incarnation}\n${status}\n${canonicalMeta(rec.meta)}`
}

/** Meta as JSON with tag keys sorted, so every node signs and checks the same bytes. */
export function canonicalMeta(meta: MemberMeta | undefined): string {
  if (!meta) return ''
  const tags: Record<string, string> = {}
  for (const k of Object.keys(meta.tags).sort()) tags[k] = meta.tags[k]
  return JSON.stringify({ name: meta.name, addrs: meta.addrs, tags })
}

/** No signatures: every self-statement is believed. For closed simulations and unit tests. */
export const trustingAuthenticator: Authenticator = Object.freeze({
  sign: () => undefined,
  verify: () => true,
})

/**
 * A simulated keyring: each member's signature is a keyed hash only the keyring can make for
 * that member. Lets the simulator and tests model forgers (who sign with the wrong key) cheaply.
 */
export class SimKeyring {
  private readonly secret: string
  constructor(seed: number) {
    this.secret = `k${seed}`
  }

  private mac(id: string, statement: string): string {
    return hashString(statement, hashString(this.secret + id, 7)).toString(36) + '.' + hashString(statement + this.secret, 11).toString(36)
  }

  /** The authenticator for member `owner`: signs only its own records, verifies anyone's. */
  forMember(owner: string): Authenticator {
    return {
      sign: (rec) => (rec.id === owner ? this.mac(rec.id, selfStatement(rec)) : undefined),
      verify: (rec) => rec.sig !== undefined && rec.sig === this.mac(rec.id, selfStatement(rec)),
    }
  }
}
