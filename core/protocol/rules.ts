// Precedence and authority rules (MODEL.md §2), as small pure functions with table tests.

import type { MemberRecord, MemberStatus } from './types.js'

/** Severity at equal incarnation: alive < suspect < failed < left (left is final for its incarnation). */
export const SEVERITY: Readonly<Record<MemberStatus, number>> = Object.freeze({ alive: 0, suspect: 1, failed: 2, left: 3 })

export interface Claim {
  incarnation: number
  status: MemberStatus
}

/**
 * Does `incoming` override `known`? 'newer' when it has a higher incarnation, or the same
 * incarnation and a more severe status; 'same' when equal; 'older' otherwise.
 */
export function compareClaims(known: Claim, incoming: Claim): 'newer' | 'same' | 'older' {
  if (incoming.incarnation !== known.incarnation) return incoming.incarnation > known.incarnation ? 'newer' : 'older'
  const d = SEVERITY[incoming.status] - SEVERITY[known.status]
  return d > 0 ? 'newer' : d === 0 ? 'same' : 'older'
}

/** Self-statements (alive, left) can only be issued by the member itself. */
export function isSelfStatement(status: MemberStatus): boolean {
  return status === 'alive' || status === 'left'
}

/**
 * Must this record prove it comes from the member itself (a valid self-signature)?
 * - alive and left always are self-statements;
 * - a suspect/failed claim about an incarnation higher than we know must carry the member's own
 *   alive statement for that incarnation, or anyone could force endless refutations by inventing
 *   incarnations.
 */
export function needsSelfProof(rec: MemberRecord, knownIncarnation: number | undefined): boolean {
  if (isSelfStatement(rec.status)) return true
  return knownIncarnation === undefined || rec.incarnation > knownIncarnation
}

/**
 * The incarnation a member must take to refute a claim about itself: one above the claim,
 * never lower than what it has now.
 */
export function refutationIncarnation(current: number, claimIncarnation: number): number {
  return Math.max(current, claimIncarnation + 1)
}

/** Is a claim about ourselves one we must refute? Any suspect/failed/left at or above our incarnation. */
export function mustRefute(selfIncarnation: number, claim: Claim): boolean {
  if (claim.status === 'alive') return claim.incarnation > selfIncarnation
  return claim.incarnation >= selfIncarnation
}

/**
 * Incarnation for a node starting up: above anything it could have said in an earlier life.
 * `persisted` is the last incarnation written to disk (or undefined); `wallClockSec` is a
 * fallback floor for a lost data dir (a fresh incarnation from the wall clock, in seconds).
 */
export function startIncarnation(persisted: number | undefined, wallClockSec: number): number {
  const fromDisk = persisted === undefined ? 0 : persisted + 1
  return Math.max(fromDisk, Math.floor(wallClockSec))
}

/** Digest class of a status: suspicion is local and transient, so suspect counts as up. */
export function digestClass(status: MemberStatus): 0 | 1 | 2 {
  return status === 'alive' || status === 'suspect' ? 0 : status === 'failed' ? 1 : 2
}
