import t from 'tap'
import { bytesToHex, type Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { checkDelegateRequest, deriveDelegateKey, parseDelegateRequest, signDelegateRequest } from '../../gatekeeper/delegates/index.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

const P = new Uint8Array(32).fill(7)
const Q = privateKeyToAccount(bytesToHex(new Uint8Array(32).fill(9))).address
const NOW = 1_800_000_000

t.test('delegate keys: deterministic per (authority key, chain, index), distinct otherwise', async (t) => {
  const a = bytesToHex(deriveDelegateKey(P, 4242n, 0))
  t.equal(bytesToHex(deriveDelegateKey(P, 4242n, 0)), a, 'recoverable from the authority key alone')
  t.not(bytesToHex(deriveDelegateKey(P, 4242n, 1)), a, 'another index')
  t.not(bytesToHex(deriveDelegateKey(P, 4243n, 0)), a, 'another chain')
  t.not(bytesToHex(deriveDelegateKey(new Uint8Array(32).fill(8), 4242n, 0)), a, 'another authority')
  t.not(privateKeyToAccount(a).address, privateKeyToAccount(bytesToHex(P)).address)
  t.throws(() => deriveDelegateKey(P, 1n, -1))
})

t.test('a verification request checks only when every field is as both keys signed it', async (t) => {
  const dk = bytesToHex(deriveDelegateKey(P, 4242n, 3))
  const signed = await signDelegateRequest(bytesToHex(P), dk, { chainId: 4242, verifier: Q, now: NOW })
  const ctx = { chainId: 4242, verifier: Q, now: NOW + 5 }
  await t.resolves(checkDelegateRequest(parseDelegateRequest(JSON.parse(JSON.stringify(signed))), ctx))
  for (const [field, value] of [['delegate', privateKeyToAccount(bytesToHex(new Uint8Array(32).fill(1))).address], ['nonce', `0x${'ab'.repeat(32)}`], ['expiresAt', NOW + 200]] as const) {
    const tampered = { ...signed, request: { ...signed.request, [field]: value } }
    await t.rejects(checkDelegateRequest(tampered, ctx), { code: GatekeeperErrorCode.BAD_SIGNATURE }, `${field} changed after signing`)
  }
  await t.rejects(checkDelegateRequest(signed, { ...ctx, chainId: 1 }), { code: GatekeeperErrorCode.WRONG_GATEKEEPER }, 'another chain')
  await t.rejects(checkDelegateRequest(signed, { ...ctx, verifier: privateKeyToAccount(bytesToHex(P)).address as Address }), { code: GatekeeperErrorCode.WRONG_GATEKEEPER }, 'another verifier')
  await t.rejects(checkDelegateRequest(signed, { ...ctx, now: NOW + 1000 }), { code: GatekeeperErrorCode.EXPIRED })
  t.throws(() => parseDelegateRequest({ request: { ...signed.request, nonce: '0x12' }, providerSignature: signed.providerSignature, delegateSignature: signed.delegateSignature }), { code: GatekeeperErrorCode.BAD_REQUEST })
})

t.test('an identity registration rides in the request only as both keys signed it', async (t) => {
  const dk = bytesToHex(deriveDelegateKey(P, 4242n, 4))
  const patient = privateKeyToAccount(bytesToHex(new Uint8Array(32).fill(3))).address
  const register = { identity: 'dora-1990', participant: patient }
  const signed = await signDelegateRequest(bytesToHex(P), dk, { chainId: 4242, verifier: Q, now: NOW, register })
  const ctx = { chainId: 4242, verifier: Q, now: NOW + 5 }
  const parsed = parseDelegateRequest(JSON.parse(JSON.stringify(signed)))
  t.same(parsed.request.register, register)
  await t.resolves(checkDelegateRequest(parsed, ctx))
  const other = privateKeyToAccount(bytesToHex(new Uint8Array(32).fill(4))).address
  for (const [what, changed] of [
    ['another identity', { ...signed.request, register: { identity: 'eve-1991', participant: patient } }],
    ['another participant', { ...signed.request, register: { identity: 'dora-1990', participant: other } }],
    ['the registration dropped', (({ register: _drop, ...rest }) => rest)(signed.request)],
  ] as const) {
    await t.rejects(checkDelegateRequest({ ...signed, request: changed }, ctx), { code: GatekeeperErrorCode.BAD_SIGNATURE }, `${what} after signing`)
  }
  // And one added to a request signed without it.
  const plain = await signDelegateRequest(bytesToHex(P), dk, { chainId: 4242, verifier: Q, now: NOW })
  await t.rejects(checkDelegateRequest({ ...plain, request: { ...plain.request, register } }, ctx), { code: GatekeeperErrorCode.BAD_SIGNATURE }, 'a registration added after signing')
  const bad = (reg: unknown) => () => parseDelegateRequest({ ...signed, request: { ...signed.request, register: reg } })
  t.throws(bad({ identity: '', participant: patient }), { code: GatekeeperErrorCode.BAD_REQUEST }, 'an empty identity')
  t.throws(bad({ identity: 'x'.repeat(257), participant: patient }), { code: GatekeeperErrorCode.BAD_REQUEST }, 'an identity over 256 characters')
  t.throws(bad({ identity: 'dora', participant: '0x12' }), { code: GatekeeperErrorCode.BAD_REQUEST }, 'a participant that is not an address')
  t.throws(bad({ identity: 'dora', participant: patient, extra: 1 }), { code: GatekeeperErrorCode.BAD_REQUEST }, 'unknown keys')
  t.throws(bad('dora'), { code: GatekeeperErrorCode.BAD_REQUEST }, 'not an object')
})
