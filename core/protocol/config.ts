// Protocol timings and limits. Units are in the names. Each default documents its reason and,
// where one applies, its formula (as memberlist's config.go does). MODEL.md §6 says the same.

export interface ProtocolConfig {
  /** One protocol period: each period the node probes one member (SWIM §3). */
  probeIntervalMs: number
  /** How long a direct probe may take before indirect probes start. Scaled by local health. */
  probeTimeoutMs: number
  /**
   * Extra time a direct probe gets when we hold no connection to the member: setting one up costs
   * TCP, Noise and Yamux handshakes (a few round trips and 20–50 ms of CPU per side, seconds while a
   * whole lab starts at once). An open connection, a refused dial and a closed connection need no
   * allowance, so crash and freeze detection are unchanged. Not scaled by local health.
   */
  connectAllowanceMs: number
  /** How many helpers are asked to probe indirectly after a direct probe fails (SWIM's k). */
  indirectChecks: number
  /**
   * Suspicion timeout floor: suspicionMult × max(1, log10(N)) × probeIntervalMs (memberlist's
   * formula). Scales with log N because gossip needs O(log N) rounds to reach everyone.
   */
  suspicionMult: number
  /** Suspicion timeout ceiling = suspicionMaxMult × floor; used while no one has confirmed (Lifeguard §IV.B). */
  suspicionMaxMult: number
  /**
   * Suspicion timeout after strong evidence (a refused connection on a live host): the host
   * answered that nothing listens there any more, so we only wait long enough for a restarted
   * process to refute. Never shorter than 2 × probeTimeoutMs.
   */
  strongSuspicionMs: number
  /** Local health multiplier cap (Lifeguard §IV.A): timeouts scale by (1 + health), health ∈ [0, maxHealth]. */
  maxHealth: number
  /** Anti-entropy: every syncIntervalMs, exchange digests (and, if they differ, full state) with a random member. */
  syncIntervalMs: number
  /** A differing digest seen on a probe triggers a sync with that member, at most once per this interval. */
  syncOnDigestMismatchMinMs: number
  /** Every reconnectIntervalMs, try a sync with one random failed member, so partitions of any length heal. */
  reconnectIntervalMs: number
  /** While joining, retry the join sync with known candidates this often. */
  joinRetryMs: number
  /** Failed or left members are forgotten (removed) after this long. */
  tombstoneTimeoutMs: number
  /** A removed member's tombstone (id, incarnation) is kept this long so stale gossip cannot resurrect it. */
  tombstoneRetentionMs: number
  /** A leaving node keeps answering probes this long after announcing, so peers learn it left rather than failed. */
  leaveGraceMs: number
  /** A tick arriving this much later than due means the node itself stalled (event loop or sleep). */
  stallThresholdMs: number
  /** How many members a leaving node tells directly, besides the broadcast (a leave must not be lost). */
  leaveDirectFanout: number
}

/** Default profile for a real LAN: lab machines on one switch, round trips of a few ms. */
export const LAN_PROFILE: ProtocolConfig = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 400,
  connectAllowanceMs: 1000,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxMult: 4,
  strongSuspicionMs: 1000,
  maxHealth: 8,
  syncIntervalMs: 10_000,
  syncOnDigestMismatchMinMs: 1000,
  reconnectIntervalMs: 5_000,
  joinRetryMs: 1000,
  tombstoneTimeoutMs: 60 * 60_000,
  tombstoneRetentionMs: 60 * 60_000,
  leaveGraceMs: 500,
  stallThresholdMs: 2000,
  leaveDirectFanout: 3,
})

/** Fast timers for many nodes on one machine (tests, the simulator's default). */
export const LOCAL_PROFILE: ProtocolConfig = Object.freeze({
  ...LAN_PROFILE,
  probeIntervalMs: 300,
  probeTimeoutMs: 150,
  connectAllowanceMs: 300,
  suspicionMult: 4,
  strongSuspicionMs: 400,
  syncIntervalMs: 2_000,
  syncOnDigestMismatchMinMs: 300,
  reconnectIntervalMs: 1_000,
  joinRetryMs: 300,
  tombstoneTimeoutMs: 60_000,
  tombstoneRetentionMs: 120_000,
  leaveGraceMs: 300,
  stallThresholdMs: 1000,
})

export const PROFILES = { lan: LAN_PROFILE, local: LOCAL_PROFILE } as const
export type ProfileName = keyof typeof PROFILES

/** Hard limits. Each exists so one bad peer or a huge group cannot exhaust memory or CPU. */
export const LIMITS = Object.freeze({
  /** Members per group: the simulator's largest run is 10,000; above this, new members are refused. */
  maxMembers: 16_384,
  /** Tombstones kept; oldest dropped first beyond this. */
  maxTombstones: 16_384,
  /** Records in one update broadcast: keeps a broadcast under the gossip message limit. */
  maxRecordsPerUpdate: 64,
  /** Name length in characters. */
  nameChars: 64,
  /** Addresses per member, and characters per address. */
  addrsPerMember: 16,
  addrChars: 256,
  /** Encoded tags (JSON bytes) per member. */
  tagsBytes: 512,
  /** Probe entries kept in one evidence record. */
  evidenceProbes: 8,
  /** Confirming members kept in one evidence record. */
  evidenceConfirmations: 8,
  /** Pending indirect probes this node serves for others at once (a flood of ping-reqs cannot grow it). */
  maxPendingRelays: 256,
  /** Largest incarnation accepted: far above any honest use, below Number.MAX_SAFE_INTEGER. */
  maxIncarnation: 2 ** 48,
})

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError'
}

/** Merge overrides onto a profile and check every value; throws InvalidConfigError naming the field. */
export function resolveConfig(base: ProtocolConfig, overrides: Partial<ProtocolConfig> = {}): ProtocolConfig {
  const cfg = { ...base, ...overrides }
  for (const [key, value] of Object.entries(cfg)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidConfigError(`config.${key} must be a finite number ≥ 0, got ${JSON.stringify(value)}`)
    }
    if (!(key in base)) throw new InvalidConfigError(`unknown config field: ${key}`)
  }
  if (cfg.probeIntervalMs < 10) throw new InvalidConfigError('config.probeIntervalMs must be ≥ 10')
  if (cfg.probeTimeoutMs <= 0 || cfg.probeTimeoutMs >= cfg.probeIntervalMs) {
    throw new InvalidConfigError('config.probeTimeoutMs must be > 0 and < probeIntervalMs (the indirect probes need the rest of the period)')
  }
  if (cfg.suspicionMult < 1) throw new InvalidConfigError('config.suspicionMult must be ≥ 1')
  if (cfg.suspicionMaxMult < 1) throw new InvalidConfigError('config.suspicionMaxMult must be ≥ 1')
  if (!Number.isInteger(cfg.indirectChecks) || cfg.indirectChecks > 16) throw new InvalidConfigError('config.indirectChecks must be an integer in 0..16')
  if (cfg.syncIntervalMs < cfg.probeIntervalMs) throw new InvalidConfigError('config.syncIntervalMs must be ≥ probeIntervalMs')
  return Object.freeze(cfg)
}

// ---------------------------------------------------------------------------------------------
// Formulas (table-tested in test/protocol/formulas.test.ts).

/** max(1, log10(N)): how gossip rounds grow with group size. */
export function nodeScale(memberCount: number): number {
  return Math.max(1, Math.log10(Math.max(1, memberCount)))
}

/** Suspicion timeout floor in ms: suspicionMult × max(1, log10 N) × probeIntervalMs. */
export function suspicionMinMs(cfg: ProtocolConfig, memberCount: number): number {
  return cfg.suspicionMult * nodeScale(memberCount) * cfg.probeIntervalMs
}

/** Suspicion timeout ceiling in ms: suspicionMaxMult × floor. */
export function suspicionMaxMs(cfg: ProtocolConfig, memberCount: number): number {
  return cfg.suspicionMaxMult * suspicionMinMs(cfg, memberCount)
}

/**
 * Confirmations we expect before the timeout reaches its floor (Lifeguard): suspicionMult − 2,
 * but none when the group has too few other members to give them.
 */
export function expectedConfirmations(cfg: ProtocolConfig, memberCount: number): number {
  const k = Math.max(0, cfg.suspicionMult - 2)
  return memberCount - 2 < k ? 0 : k
}

/**
 * Lifeguard's decaying suspicion timeout: starts at max and falls logarithmically to min as
 * independent confirmations arrive: max − (max − min) × log(C + 1) / log(K + 1), floored at min.
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, confirmations: number, expected: number): number {
  if (expected <= 0) return minMs
  const frac = Math.log(confirmations + 1) / Math.log(expected + 1)
  return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * frac))
}

/** Local health scales our own timeouts: a slow node waits longer instead of accusing others. */
export function scaledTimeoutMs(baseMs: number, health: number): number {
  return baseMs * (1 + health)
}

/**
 * Upper bound on how long a member may be unresponsive before every live member holds it failed,
 * without confirmations (weak evidence, healthy observers, no loss):
 * probeIntervalMs × (N − 1)  (worst-case wait until someone probes it, one period per member)
 * + probeIntervalMs          (direct + indirect probe round)
 * + suspicionMaxMs           (unconfirmed suspicion)
 * In practice N − 1 probers each probe it once per N − 1 periods, so the first probe comes
 * within about one period; MODEL.md §6 gives the expected figure too.
 */
export function failureDetectionBoundMs(cfg: ProtocolConfig, memberCount: number): number {
  return cfg.probeIntervalMs * Math.max(1, memberCount - 1) + cfg.probeIntervalMs + suspicionMaxMs(cfg, memberCount)
}

/** Expected detection time with many probers: about one period to the first probe, one probe round, and the suspicion floor. */
export function expectedFailureDetectionMs(cfg: ProtocolConfig, memberCount: number): number {
  return 2 * cfg.probeIntervalMs + suspicionMinMs(cfg, memberCount)
}
