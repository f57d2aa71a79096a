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

/** A pointer's stored query, or a FORBIDDEN refusal naming the pointer. */
export function servableRecordQuery(text: string, relationship: string, pointerId: number): BuiltRecordQuery {
  try {
    return parseRecordQuery(text)
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
