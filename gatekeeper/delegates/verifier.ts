import type { Address, Hex } from 'viem'
import type { MedRecClient } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError, rateLimited, wireCode } from '../errors.ts'
import type { NonceStore } from '../nonces.ts'
import type { RateLimiter } from '../rate-limit.ts'
import { checkDelegateRequest, parseDelegateRequest, TOP_UP_GAS, type DelegateReply, type SignedDelegateRequest } from './protocol.ts'
import type { RelayTable } from './relay.ts'

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
  /** Delegate → provider of every delegate verified here: this gatekeeper relays their requests. */
  relays: RelayTable
  /** This gatekeeper's public endpoint, told to the provider for its delegate's relationships (multiaddr, else URL). */
  endpoint(): string
  /** The chain's gas price now (eth_gasPrice): the top-up threshold is TOP_UP_GAS at it. */
  gasPrice(): Promise<bigint>
  /** Least time between two top-ups of one delegate; default 600 s. */
  topUpIntervalSeconds?: number
  now?: () => number
}

/**
 * The verifying authority's side of `/medrec/delegate/1`: a provider's signed request, checked
 * (addressed to us, fresh, signed by the provider and by the delegate, the provider an authority
 * at our head, the delegate new, the nonce unused, within the rate), then verifyDelegate, the
 * patient's identity registration when asked (skipped when registered already) and the funding
 * transfer, all from our own account, in one job; from then on this gatekeeper relays the
 * delegate's requests to the provider (relay.ts). Never throws: refusals are replies.
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
    if (signed.request.topUp === true) return topUp(signed)
    nonces.use(provider, signed.request.nonce, signed.request.expiresAt)
    if (await client.registrar.isDelegate(delegate)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `${delegate} is already a verified delegate`)
    if ((await client.registrar.provider(delegate)).authority) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `${delegate} is an authority, not a fresh delegate account`)
    // The patient's identity, registered by this authority so that registeredBy does not name the provider.
    const reg = signed.request.register
    let register = false
    if (reg !== undefined && (await client.registrar.resolve(reg.identity)) === undefined) {
      if ((await client.registrar.summaryOf(reg.participant)) !== undefined) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `${reg.participant} is registered already, under another identity than ${JSON.stringify(reg.identity)}`)
      register = true
    }
    const relay = modules.endpoint()
    if (relay === '') throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, 'this authority has no public gatekeeper endpoint to relay the delegate\'s requests: start it with --p2p.port or --gatekeeper.http')
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
      modules.relays.add(delegate, provider)
      const registerTx = register ? await sent((onSent) => client.registrar.registerIdentity(reg!.identity, reg!.participant, { onSent }), 'identity registration') : undefined
      // The funding comes from the verifier, which the DelegateVerified event names already: no new link.
      const fundTx = modules.funding > 0n ? await sent((onSent) => client.transfer(delegate, modules.funding, { onSent }), 'funding') : undefined
      return { verifyTx, fundTx, registerTx }
    })
    queue = run.catch(() => undefined)
    const { verifyTx, fundTx, registerTx } = await run
    log.info('Verified a delegate account', { delegate, funded: modules.funding.toString(), registered: registerTx !== undefined })
    return { ok: true, delegate, verifier: self, verifyTx, ...(fundTx === undefined ? {} : { fundTx }), ...(registerTx === undefined ? {} : { registerTx }), funded: modules.funding.toString(), relay }
  }

  /**
   * A top-up: only of a delegate verified here for this provider, only when its balance is below
   * what a few transactions cost (twice the threshold, for gas price differences between nodes),
   * at most once per interval per delegate; the same amount as the verification's funding, so a
   * top-up looks like any other funding from this authority.
   */
  async function topUp(signed: SignedDelegateRequest): Promise<DelegateReply> {
    const { provider, delegate } = signed.request
    if (modules.relays.providerOf(delegate)?.toLowerCase() !== provider.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `this authority did not verify ${delegate} for ${provider}: ask the authority that verified it`)
    if (modules.funding === 0n) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, 'this authority funds no delegates (--gatekeeper.delegates.funding 0)')
    const threshold = TOP_UP_GAS * (await modules.gasPrice())
    const balance = await client.balanceOf(delegate)
    if (balance >= 2n * threshold) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `${delegate} holds ${balance} wei, more than a few transactions cost (${threshold} wei): no top-up`)
    const interval = (modules.topUpIntervalSeconds ?? 600) * 1000
    const last = modules.relays.toppedUpAt(delegate)
    if (Date.now() - last < interval) throw rateLimited(Math.ceil((last + interval - Date.now()) / 1000), `${delegate} was topped up less than ${interval / 1000} s ago`)
    nonces.use(provider, signed.request.nonce, signed.request.expiresAt)
    modules.relays.setToppedUp(delegate, Date.now())
    const run = queue.then(
      () =>
        new Promise<Hex>((resolve, reject) => {
          client.transfer(delegate, modules.funding, { onSent: (tx) => resolve(tx.hash) }).catch((err) => {
            reject(err)
            log.warn('Delegate top-up failed', { delegate }, errorMessage(err))
          })
        }),
    )
    queue = run.catch(() => undefined)
    const fundTx = await run
    log.info('Topped up a delegate account', { delegate, funded: modules.funding.toString() })
    return { ok: true, topUp: true, delegate, verifier: client.address as Address, fundTx, funded: modules.funding.toString() }
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
        return { ok: false, error: { code: wireCode(e.code), message: e.code === GatekeeperErrorCode.INTERNAL ? `the verifying authority could not complete the verification: ${e.message}` : e.message, ...(retryAfter === undefined ? {} : { retryAfter }) } }
      }
    },
  }
}

export type DelegateVerifier = ReturnType<typeof createDelegateVerifier>
