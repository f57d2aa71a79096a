import t from 'tap'
import { bytesToHex, type Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { checkDelegateRequest, deriveDelegateKey, parseDelegateRequest, signDelegateRequest } from '../../gatekeeper/delegates/index.ts'

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
    await t.rejects(checkDelegateRequest(tampered, ctx), { code: 'BAD_SIGNATURE' }, `${field} changed after signing`)
  }
  await t.rejects(checkDelegateRequest(signed, { ...ctx, chainId: 1 }), { code: 'WRONG_GATEKEEPER' }, 'another chain')
  await t.rejects(checkDelegateRequest(signed, { ...ctx, verifier: privateKeyToAccount(bytesToHex(P)).address as Address }), { code: 'WRONG_GATEKEEPER' }, 'another verifier')
  await t.rejects(checkDelegateRequest(signed, { ...ctx, now: NOW + 1000 }), { code: 'EXPIRED' })
  t.throws(() => parseDelegateRequest({ request: { ...signed.request, nonce: '0x12' }, providerSignature: signed.providerSignature, delegateSignature: signed.delegateSignature }), { code: 'BAD_REQUEST' })
})
