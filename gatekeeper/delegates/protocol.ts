import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, getAddress, isAddress, recoverMessageAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/** The libp2p application protocol on which an authority asks another to verify its delegate. */
export const DELEGATE_PROTOCOL = '/medrec/delegate/1'

/** Longest accepted expiresAt − issuedAt of a verification request, seconds. */
export const MAX_DELEGATE_REQUEST_SECONDS = 300
/** How far in the future issuedAt may be, seconds. */
const CLOCK_SKEW = 30

const N = secp256k1.Point.Fn.ORDER

/**
 * Delegate `index` of the provider whose authority key is `authorityKey`, on chain `chainId`:
 * HMAC-SHA256(authorityKey, "medrec/delegate/v1" ‖ chainId (32 bytes, big-endian) ‖ index
 * (4 bytes, big-endian)), mapped into [1, n − 1]. Deterministic, so the delegates (and the
 * relationships they created) are recovered from the authority key alone; one-way, so a
 * delegate key says nothing about the authority key or the other delegates.
 */
export function deriveDelegateKey(authorityKey: Uint8Array, chainId: bigint, index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0 || index > 0xffffffff) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `delegate index must be a 32-bit unsigned integer, got ${index}`)
  const msg = new Uint8Array(18 + 32 + 4)
  msg.set(new TextEncoder().encode('medrec/delegate/v1'), 0)
  const view = new DataView(msg.buffer)
  for (let i = 0; i < 32; i++) msg[18 + i] = Number((chainId >> BigInt(8 * (31 - i))) & 0xffn)
  view.setUint32(50, index)
  const mac = hmac(sha256, authorityKey, msg)
  // n − 1 values, none of them 0: the bias of reducing a 256-bit value mod ~2^256 is ~2^-128.
  const k = (BigInt(bytesToHex(mac)) % (N - 1n)) + 1n
  return Uint8Array.from(Buffer.from(k.toString(16).padStart(64, '0'), 'hex'))
}

/**
 * "A few transactions": five of the largest a delegate sends (a relationship's creation is the
 * largest, under 3M gas). A delegate whose balance is below this many gas at the current gas
 * price may ask its verifier for a top-up.
 */
export const TOP_UP_GAS = 5n * 3_000_000n

/** Longest identity the verifier registers for a provider (the Registrar takes any non-empty string). */
export const MAX_IDENTITY_LENGTH = 256

/** An identity the verifier registers with its own account in the same job (so `registeredBy` is not the provider). */
export interface DelegateRegistration {
  identity: string
  participant: Address
}

/**
 * What a provider asks another authority to do: verify `delegate` in the Registrar, fund it,
 * register the patient's identity when asked (and not yet registered), and relay requests for
 * the delegate's relationships to the provider's gatekeeper.
 */
export interface DelegateRequest {
  chainId: number
  /** The asking authority (signs the request). */
  provider: Address
  delegate: Address
  /** The authority asked: a request is good for that one only. */
  verifier: Address
  /** 32 random bytes, single use per provider. */
  nonce: Hex
  issuedAt: number
  expiresAt: number
  /** Optional; covered by both signatures like every other field. */
  register?: DelegateRegistration
  /**
   * A top-up of a delegate this verifier verified earlier, instead of a verification: the verifier
   * sends its funding again when the delegate's balance is below what a few transactions cost.
   */
  topUp?: true
}

export interface SignedDelegateRequest {
  request: DelegateRequest
  /** EIP-191 signature of `delegateRequestText(request)` by the provider's authority key. */
  providerSignature: Hex
  /** The same text signed by the delegate's key: proof that the provider holds it (no one gets a stranger's account verified). */
  delegateSignature: Hex
}

export type DelegateReply =
  | { ok: true; topUp: true; delegate: Address; verifier: Address; fundTx: Hex; funded: string }
  | {
      ok: true
      delegate: Address
      verifier: Address
      verifyTx: Hex
      fundTx?: Hex
      funded: string
      /** The registration transaction; absent when none was asked or the identity was registered already. */
      registerTx?: Hex
      /** The verifier's public gatekeeper endpoint that relays the delegate's requests (its multiaddr, else its URL). */
      relay: string
    }
  | { ok: false; error: { code: string; message: string; retryAfter?: number } }

/** The text both keys sign; every field is in it, so nothing can be changed or moved to another chain or verifier. */
export function delegateRequestText(r: DelegateRequest): string {
  return [
    'MedRec delegate verification v1',
    `chain: ${r.chainId}`,
    `provider: ${getAddress(r.provider)}`,
    `delegate: ${getAddress(r.delegate)}`,
    `verifier: ${getAddress(r.verifier)}`,
    `nonce: ${r.nonce.toLowerCase()}`,
    `issued: ${r.issuedAt}`,
    `expires: ${r.expiresAt}`,
    // Only when present, so a request without a registration signs the same text as before.
    ...(r.register === undefined ? [] : [`register identity: ${JSON.stringify(r.register.identity)}`, `register participant: ${getAddress(r.register.participant)}`]),
    ...(r.topUp === true ? ['top-up: yes'] : []),
  ].join('\n')
}

export async function signDelegateRequest(providerKey: Hex, delegateKey: Hex, fields: { chainId: number; verifier: Address; now: number; lifetimeSeconds?: number; register?: DelegateRegistration; topUp?: boolean }): Promise<SignedDelegateRequest> {
  const provider = privateKeyToAccount(providerKey)
  const delegate = privateKeyToAccount(delegateKey)
  const request: DelegateRequest = {
    chainId: fields.chainId,
    provider: provider.address,
    delegate: delegate.address,
    verifier: getAddress(fields.verifier),
    nonce: bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
    issuedAt: fields.now,
    expiresAt: fields.now + (fields.lifetimeSeconds ?? 120),
    ...(fields.register === undefined ? {} : { register: { identity: fields.register.identity, participant: getAddress(fields.register.participant) } }),
    ...(fields.topUp === true ? { topUp: true as const } : {}),
  }
  const text = delegateRequestText(request)
  return { request, providerSignature: await provider.signMessage({ message: text }), delegateSignature: await delegate.signMessage({ message: text }) }
}

function bad(message: string): never {
  throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, message)
}

const HEX_SIG = /^0x[0-9a-fA-F]{130}$/

/** Shape of a request as received (any JSON); throws BAD_REQUEST naming the field. */
export function parseDelegateRequest(json: unknown): SignedDelegateRequest {
  if (json === null || typeof json !== 'object') bad('a delegate verification request is a JSON object')
  const o = json as Record<string, unknown>
  const r = o.request as Record<string, unknown> | undefined
  if (r === undefined || r === null || typeof r !== 'object') bad('request must be an object')
  const addr = (v: unknown, what: string): Address => (typeof v === 'string' && isAddress(v, { strict: false }) ? getAddress(v) : bad(`${what} must be a 0x account address`))
  const int = (v: unknown, what: string): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : bad(`${what} must be a non-negative integer`))
  if (typeof r.nonce !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(r.nonce)) bad('nonce must be 32 bytes as 0x + 64 hex')
  if (typeof o.providerSignature !== 'string' || !HEX_SIG.test(o.providerSignature)) bad('providerSignature must be 65 bytes as 0x + 130 hex')
  if (typeof o.delegateSignature !== 'string' || !HEX_SIG.test(o.delegateSignature)) bad('delegateSignature must be 65 bytes as 0x + 130 hex')
  let register: DelegateRegistration | undefined
  if (r.register !== undefined) {
    const g = r.register as Record<string, unknown> | null
    if (g === null || typeof g !== 'object' || Array.isArray(g)) bad('register must be an object { identity, participant }')
    if (Object.keys(g).some((k) => k !== 'identity' && k !== 'participant')) bad('register takes only identity and participant')
    if (typeof g.identity !== 'string' || g.identity.length === 0 || g.identity.length > MAX_IDENTITY_LENGTH) bad(`register.identity must be a non-empty string of at most ${MAX_IDENTITY_LENGTH} characters`)
    register = { identity: g.identity, participant: addr(g.participant, 'register.participant') }
  }
  if (r.topUp !== undefined && r.topUp !== true) bad('topUp must be true when present')
  if (r.topUp === true && register !== undefined) bad('a top-up registers nothing: send register with a verification only')
  return {
    request: {
      chainId: int(r.chainId, 'chainId'),
      provider: addr(r.provider, 'provider'),
      delegate: addr(r.delegate, 'delegate'),
      verifier: addr(r.verifier, 'verifier'),
      nonce: r.nonce as Hex,
      issuedAt: int(r.issuedAt, 'issuedAt'),
      expiresAt: int(r.expiresAt, 'expiresAt'),
      ...(register === undefined ? {} : { register }),
      ...(r.topUp === true ? { topUp: true as const } : {}),
    },
    providerSignature: o.providerSignature as Hex,
    delegateSignature: o.delegateSignature as Hex,
  }
}

/**
 * The checks that need no chain: addressed to this verifier on this chain, fresh, signed by the
 * provider it names and by the delegate it names. The caller then checks the chain (provider is
 * an authority, delegate is new) and single use.
 */
export async function checkDelegateRequest(signed: SignedDelegateRequest, ctx: { chainId: number; verifier: Address; now: number }): Promise<void> {
  const r = signed.request
  if (r.chainId !== ctx.chainId) throw new GatekeeperError(GatekeeperErrorCode.WRONG_GATEKEEPER, `the request is for chain ${r.chainId}; this node is on chain ${ctx.chainId}`)
  if (r.verifier.toLowerCase() !== ctx.verifier.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.WRONG_GATEKEEPER, `the request asks ${r.verifier} to verify, not this authority (${ctx.verifier}): sign it for the authority you send it to`)
  if (r.expiresAt < r.issuedAt || r.expiresAt - r.issuedAt > MAX_DELEGATE_REQUEST_SECONDS) throw new GatekeeperError(GatekeeperErrorCode.EXPIRED, `the request must live between 0 and ${MAX_DELEGATE_REQUEST_SECONDS} s`)
  if (r.issuedAt > ctx.now + CLOCK_SKEW) throw new GatekeeperError(GatekeeperErrorCode.EXPIRED, `the request is issued ${r.issuedAt - ctx.now} s in the future: check the provider's clock`)
  if (ctx.now > r.expiresAt) throw new GatekeeperError(GatekeeperErrorCode.EXPIRED, `the request expired ${ctx.now - r.expiresAt} s ago: sign a new one`)
  if (r.provider.toLowerCase() === r.delegate.toLowerCase()) bad('an authority cannot be its own delegate')
  const text = delegateRequestText(r)
  const recover = async (sig: Hex): Promise<string> => {
    try {
      return (await recoverMessageAddress({ message: text, signature: sig })).toLowerCase()
    } catch {
      return ''
    }
  }
  if ((await recover(signed.providerSignature)) !== r.provider.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.BAD_SIGNATURE, `the request is not signed by the provider it names (${r.provider})`)
  if ((await recover(signed.delegateSignature)) !== r.delegate.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.BAD_SIGNATURE, `the request is not signed by the delegate it names (${r.delegate}): the provider must prove it holds the delegate's key`)
}
