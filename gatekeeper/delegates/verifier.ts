import type { Address, Hex } from 'viem'
import type { MedRecClient } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError, rateLimited } from '../errors.ts'
import type { NonceStore } from '../nonces.ts'
import type { RateLimiter } from '../rate-limit.ts'
import { checkDelegateRequest, parseDelegateRequest, type DelegateReply } from './protocol.ts'

const log = createLogger('gatekeeper:delegates')

export interface DelegateVerifierModules {
  /** This authority's client: it sends verifyDelegate and the funding transfer. */
  client: MedRecClient
  chainId: number
  /** Single use of (provider, nonce); the gatekeeper's persistent store. */
  nonces: NonceStore
  /** Keys `peer:<id>` (every request) and `provider:<address>` (each verified ask). */
  limiter: RateLimiter
  /** Wei sent to each delegate verified here (0: none). */
  funding: bigint
  now?: () => number
}

/**
 * The verifying authority's side of `/medrec/delegate/1`: a provider's signed request, checked
 * (addressed to us, fresh, signed by the provider and by the delegate, the provider an authority
 * at our head, the delegate new, the nonce unused, within the rate), then verifyDelegate and the
 * funding transfer from our own account. Never throws: refusals are replies.
 */
export function createDelegateVerifier(modules: DelegateVerifierModules) {
  const { client, nonces, limiter } = modules
  const now = modules.now ?? (() => Math.floor(Date.now() / 1000))
  // One verification at a time: each costs this authority gas and funds.
  let queue: Promise<unknown> = Promise.resolve()

  async function verify(json: unknown, from: string): Promise<DelegateReply> {
    const peer = limiter.take(`peer:${from}`)
    if (!peer.ok) throw rateLimited(peer.retryAfter, `too many delegate requests from peer ${from}`)
    const signed = parseDelegateRequest(json)
    const self = client.address as Address
    await checkDelegateRequest(signed, { chainId: modules.chainId, verifier: self, now: now() })
    const { provider, delegate } = signed.request
    // At our head: an authority removed by vote is refused from the next block on.
    if (!(await client.registrar.provider(provider)).authority) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `${provider} is not an authority at this node's head: only authorities have delegates verified`)
    const ask = limiter.take(`provider:${provider.toLowerCase()}`)
    if (!ask.ok) throw rateLimited(ask.retryAfter, `too many delegate verifications for ${provider}`)
    nonces.use(provider, signed.request.nonce, signed.request.expiresAt)
    if (await client.registrar.isDelegate(delegate)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `${delegate} is already a verified delegate`)
    if ((await client.registrar.provider(delegate)).authority) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `${delegate} is an authority, not a fresh delegate account`)
    // Reply once both transactions are accepted by this node, not included: the provider watches
    // its own head for them, and a p2p request must not wait for blocks.
    const run = queue.then(async () => {
      const sent = (write: (onSent: (tx: { hash: Hex }) => void) => Promise<unknown>, what: string) =>
        new Promise<Hex>((resolve, reject) => {
          write((tx) => resolve(tx.hash)).catch((err) => {
            reject(err)
            log.warn(`Delegate ${what} failed`, { delegate }, errorMessage(err))
          })
        })
      const verifyTx = await sent((onSent) => client.registrar.verifyDelegate(delegate, { onSent }), 'verification')
      // The funding comes from the verifier, which the DelegateVerified event names already: no new link.
      const fundTx = modules.funding > 0n ? await sent((onSent) => client.transfer(delegate, modules.funding, { onSent }), 'funding') : undefined
      return { verifyTx, fundTx }
    })
    queue = run.catch(() => undefined)
    const { verifyTx, fundTx } = await run
    log.info('Verified a delegate account', { delegate, funded: modules.funding.toString() })
    return { ok: true, delegate, verifier: self, verifyTx, ...(fundTx === undefined ? {} : { fundTx }), funded: modules.funding.toString() }
  }

  return {
    async handle(json: unknown, from: string): Promise<DelegateReply> {
      try {
        return await verify(json, from)
      } catch (err) {
        const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.INTERNAL, errorMessage(err), undefined, err)
        if (e.code === GatekeeperErrorCode.INTERNAL) log.warn('Delegate verification failed', { from }, err)
        else log.info('Refused a delegate verification request', { from, code: e.code, reason: e.message })
        const retryAfter = e.retryAfter
        return { ok: false, error: { code: e.code, message: e.code === GatekeeperErrorCode.INTERNAL ? `the verifying authority could not complete the verification: ${e.message}` : e.message, ...(retryAfter === undefined ? {} : { retryAfter }) } }
      }
    },
  }
}

export type DelegateVerifier = ReturnType<typeof createDelegateVerifier>
