import { isClientError, parseBountyQuery, parseRecordQuery, type BountyQuery, type BuiltRecordQuery, type CanonicalQuery } from '../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

/**
 * Queries read back from chain, checked by the one query grammar (contracts/client/query.ts)
 * before the gatekeeper acts on them. The client refuses to send a query outside the grammar,
 * but anyone can hand-make a transaction: a pointer or bounty whose stored query carries values
 * (or is not a query at all) is never served, so storing one gains nothing. The refusal is a
 * FORBIDDEN like any other the chain's state decides, and is audited like every refusal.
 */

function outsideGrammar(what: string, err: unknown, context: Record<string, unknown>): never {
  if (!isClientError(err)) throw err
  throw new GatekeeperError(
    GatekeeperErrorCode.FORBIDDEN,
    `${what} has a query outside the query grammar, so this gatekeeper never serves it (${err.message})`,
    context,
  )
}

// Every served read parses its pointers' stored queries (4-6% of a FHIR read's CPU): a text
// always parses to the same query, so each is parsed once, and frozen, since it is shared.
const parsed = new Map<string, BuiltRecordQuery>()
const MAX_PARSED = 4096

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}

/** A pointer's stored query (frozen: callers share it), or a FORBIDDEN refusal naming the pointer. */
export function servableRecordQuery(text: string, relationship: string, pointerId: number): BuiltRecordQuery {
  try {
    let q = parsed.get(text)
    if (q === undefined) {
      q = deepFreeze(parseRecordQuery(text))
      if (parsed.size >= MAX_PARSED) parsed.clear()
      parsed.set(text, q)
    }
    return q
  } catch (err) {
    outsideGrammar(`pointer ${pointerId} of ${relationship}`, err, { relationship, pointerId })
  }
}

/** A bounty's stored query, or a FORBIDDEN refusal naming the bounty. */
export function servableBountyQuery(text: string, index: number): CanonicalQuery<BountyQuery> {
  try {
    return parseBountyQuery(text)
  } catch (err) {
    outsideGrammar(`bounty #${index}`, err, { index })
  }
}
