import type { Test } from 'tap'
import { createPublicClient, getContractAddress, http, keccak256, numberToHex, toHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { call, estimateGas } from 'viem/actions'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'
import { fundedAccount } from './fixture.ts'

/**
 * eth_call / eth_estimateGas / eth_createAccessList as geth answers them, through a real dev node
 * (osaka) over HTTP: access lists and EIP-7702 authorizations honoured, state and block overrides
 * applied (or refused by name), geth's estimator, and failures that name the panic, the custom
 * error or the invalid opcode. Most contracts are put in place by state overrides (no block to wait for);
 * the failing ones are deployed, so that test holds without overrides. On the shared main node
 * (test/rpc/dev-node.test.ts), from an account of its own.
 */

const CHAIN_ID = 1337
const SINK: Hex = '0x00000000000000000000000000000000000000f1'
const C: Hex = '0x00000000000000000000000000000000000c0de1'
const SLOT0 = `0x${'00'.repeat(32)}` as const
const word = (n: bigint | number): Hex => numberToHex(BigInt(n), { size: 32 })

/** PUSH1 42, MSTORE at 0, RETURN 32 bytes. */
const RETURN_42 = '0x602a60005260206000f3'
// CREATE of empty code; returns the new address.
const CREATE_EMPTY = '0x600060006000f060005260206000f3'
/** Returns storage slot 0. */
const RETURN_SLOT0 = '0x60005460005260206000f3'
/** Returns BALANCE(CALLER). */
const RETURN_CALLER_BALANCE = '0x333160005260206000f3'
/** Returns NUMBER, TIMESTAMP, COINBASE, BASEFEE as four words. */
const RETURN_BLOCK = '0x4360005242602052416040524860605260806000f3'
/** Reverts with Panic(0x11), as solc's checked arithmetic does. */
const PANIC_11 = '0x634e487b7160e01b60005260116004526024 6000fd'.replace(' ', '')
const NOT_PROVIDER = keccak256(toHex('NotProvider(address)')).slice(2, 10)
/** Reverts with PatientProviderRelationship's NotProvider(msg.sender). */
const REVERT_NOT_PROVIDER = `0x63${NOT_PROVIDER}60e01b600052336004526024 6000fd`.replace(' ', '')
/** Reverts with an error no MedRec contract declares (selector 0xdeadbeef). */
const REVERT_UNKNOWN = '0x63deadbeef60e01b60005260046000fd'
/** Opcode 0x0c: not defined in any fork. */
const UNDEFINED_OPCODE = '0x0c'
/** SSTORE(0, 1). */
const STORE_ONE = '0x600160005500'

export default async function callsGeth(t: Test, node: NodeProcess): Promise<void> {
  const url = node.url
  const alice = await fundedAccount(node, 'calls-geth')
  const client = createPublicClient({ transport: http(url) })

  async function rpcError(method: string, params: unknown[]): Promise<{ code: number; message: string; data?: unknown }> {
    const r = await rpcRaw(url, method, params)
    if (r.error === undefined) throw new Error(`${method} ${JSON.stringify(params)} was answered ${JSON.stringify(r.result)}, expected an error`)
    return r.error as { code: number; message: string; data?: unknown }
  }
  const withCode = (code: string, extra: Record<string, unknown> = {}) => ({ [C]: { code, ...extra } })

  t.test('access lists: charged as intrinsic gas and warm in eth_estimateGas, eth_call and eth_createAccessList', async (t) => {
    const accessList = [{ address: SINK, storageKeys: [SLOT0] }]
    // The case: a transfer with one address and one key needs 21,000 + 2,400 + 1,900 exactly.
    const callAt = (gas: number, list?: unknown, code = RETURN_SLOT0, to: string = C) =>
      rpcRaw(url, 'eth_call', [{ from: alice.address, to, gas: numberToHex(gas), ...(list === undefined ? {} : { accessList: list }) }, 'latest', withCode(code)])
    t.equal((await callAt(25_300, accessList, RETURN_42, SINK)).error, undefined, 'runs at 25,300')
    const low = (await callAt(25_299, accessList, RETURN_42, SINK)).error
    t.match(low, { code: -32000, message: 'intrinsic gas too low: have 25299, want 25300' }, 'not below')
    // geth's estimator stops within 1.5% above the least (it answers 25,641 here, as this node does).
    const est = BigInt(await rpc<Hex>(url, 'eth_estimateGas', [{ from: alice.address, to: SINK, accessList }]))
    t.ok(est >= 25_300n && est <= (25_300n * 1015n) / 1000n, `estimate counts the access list (${est}), not 21,000`)
    t.equal(await estimateGas(client, { account: alice.address, to: SINK, accessList }), est, 'viem sees the same')

    // A cold SLOAD costs 2,100, a listed (warm) one 100: listing the slot costs 4,300 up front and saves 2,000.
    const created = await rpc<{ accessList: unknown; gasUsed: Hex; error?: string }>(url, 'eth_createAccessList', [{ from: alice.address, to: C }, 'latest', withCode(RETURN_SLOT0)])
    const listed = [{ address: C, storageKeys: [SLOT0] }]
    t.same(created.accessList, listed, 'the slot read is listed (caller, callee account and precompiles are not)')
    t.notOk('error' in created)
    const withList = Number(created.gasUsed)
    t.equal((await callAt(withList, listed)).error, undefined, `gasUsed (${withList}) is what the listed call needs`)
    t.ok((await callAt(withList - 1, listed)).error !== undefined, 'and no less')
    t.equal((await callAt(withList - 2_300)).error, undefined, 'without the list: 2,300 less')
    t.ok((await callAt(withList - 2_301)).error !== undefined, 'and no less: the listed slot was warm, the unlisted one cold')
    const failing = await rpc<{ accessList: unknown; error?: string }>(url, 'eth_createAccessList', [{ from: alice.address, to: C }, 'latest', withCode(PANIC_11)])
    t.equal(failing.error, 'execution reverted: arithmetic underflow or overflow', 'a failing run still answers, naming the failure')
  })

  t.test('state overrides: balance, nonce, code, state and stateDiff apply to the call only; refusals are named', async (t) => {
    t.equal(await rpc(url, 'eth_call', [{ to: C }, 'latest', withCode(RETURN_42)]), word(42), 'code override runs')
    t.equal(await rpc(url, 'eth_getCode', [C, 'latest']), '0x', 'and is not kept')
    t.equal(await call(client, { to: C, stateOverride: [{ address: C, code: RETURN_42 }] }).then((r) => r.data), word(42), 'viem stateOverride')
    const rich = 123_456_789n
    t.equal(await rpc(url, 'eth_call', [{ from: alice.address, to: C }, 'latest', { ...withCode(RETURN_CALLER_BALANCE), [alice.address]: { balance: numberToHex(rich) } }]), word(rich), 'balance override')
    t.equal(await rpc(url, 'eth_call', [{ to: C }, 'latest', withCode(RETURN_SLOT0, { stateDiff: { [SLOT0]: word(7) } })]), word(7), 'stateDiff sets a slot')
    // AuthoritySet keeps its authority count in slot 0 (one on the dev chain).
    const AS = '0x4d65645265630000000000000000000000000001'
    const asCode = (extra: Record<string, unknown>) => ({ [AS]: { code: RETURN_SLOT0, ...extra } })
    t.equal(await rpc(url, 'eth_call', [{ to: AS }, 'latest', asCode({ stateDiff: { [word(5)]: word(9) } })]), word(1), 'stateDiff keeps the other slots')
    t.equal(await rpc(url, 'eth_call', [{ to: AS }, 'latest', asCode({ state: { [word(5)]: word(9) } })]), word(0), 'state replaces the whole storage')
    t.equal(await rpc(url, 'eth_call', [{ to: AS }, 'latest', asCode({})]), word(1), 'and the replacement is not kept')
    const est = BigInt(await rpc<Hex>(url, 'eth_estimateGas', [{ from: alice.address, to: C }, 'latest', withCode(STORE_ONE)]))
    t.ok(est > 42_000n, `estimateGas takes the override too (${est}: an SSTORE from zero)`)

    const both = await rpcError('eth_call', [{ to: C }, 'latest', withCode(RETURN_SLOT0, { state: {}, stateDiff: {} })])
    t.match(both, { code: -32000, message: /has both 'state' and 'stateDiff'/ })
    const typo = await rpcError('eth_call', [{ to: C }, 'latest', { [C]: { cod: RETURN_42 } }])
    t.match(typo, { code: -32602, message: /unknown field "cod"/ })
    const notObject = await rpcError('eth_call', [{ to: C }, 'latest', 'nonsense'])
    t.match(notObject, { code: -32602, message: /invalid argument 2/ })
    // movePrecompileToAddress works (test/rpc/dev-node/trace-overrides.ts); moving what is not a precompile is refused, as geth.
    const move = await rpcError('eth_call', [{ to: C }, 'latest', { [C]: { movePrecompileToAddress: '0x0000000000000000000000000000000000001234' } }])
    t.match(move, { code: -32000, message: /is not a precompile/ })
  })

  t.test('block overrides: number, time, feeRecipient, baseFeePerGas and difficulty as the 4th parameter', async (t) => {
    const coinbase = '0x00000000000000000000000000000000000000cb'
    const out = await rpc<Hex>(url, 'eth_call', [{ to: C }, 'latest', withCode(RETURN_BLOCK), { number: '0x1234', time: '0x5678', feeRecipient: coinbase, baseFeePerGas: '0x7' }])
    t.equal(out, `0x${[word(0x1234), word(0x5678), word(BigInt(coinbase)), word(7)].map((w) => w.slice(2)).join('')}`)
    // Opcode 0x44 is DIFFICULTY on this chain (Clique, no merge): its override is `difficulty`.
    t.equal(await rpc(url, 'eth_call', [{ to: C }, 'latest', withCode('0x4460005260206000f3'), { difficulty: '0x99' }]), word(0x99), 'DIFFICULTY')
    const refused = await rpcError('eth_call', [{ to: C }, 'latest', withCode(RETURN_BLOCK), { blobBaseFee: '0x1' }])
    t.match(refused, { code: -32602, message: /blobBaseFee/ })
  })

  /** Init code that deploys `runtime` (PUSH1 len, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 len, PUSH1 0, RETURN). */
  function deployer(runtime: string): Hex {
    const body = runtime.slice(2)
    const len = (body.length / 2).toString(16).padStart(2, '0')
    return `0x60${len}600c60003960${len}6000f3${body}`
  }

  async function deploy(runtimes: string[]): Promise<Hex[]> {
    const nonce = Number(await rpc<Hex>(url, 'eth_getTransactionCount', [alice.address, 'pending']))
    const hashes: Hex[] = []
    for (const [i, runtime] of runtimes.entries()) {
      const raw = await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: nonce + i, data: deployer(runtime), gas: 100_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n })
      hashes.push(await rpc<Hex>(url, 'eth_sendRawTransaction', [raw]))
    }
    const receipts = await Promise.all(hashes.map((h) => waitFor(() => rpc<{ contractAddress: Hex; status: Hex } | null>(url, 'eth_getTransactionReceipt', [h]), `receipt of ${h}`)))
    return receipts.map((r) => r.contractAddress)
  }

  t.test('failures name the panic, the custom error and the invalid opcode, in eth_call and eth_estimateGas', async (t) => {
    const [panicking, customReverting, unknownReverting, badOpcode] = await deploy([PANIC_11, REVERT_NOT_PROVIDER, REVERT_UNKNOWN, UNDEFINED_OPCODE])
    for (const method of ['eth_call', 'eth_estimateGas']) {
      const panic = await rpcError(method, [{ from: alice.address, to: panicking }])
      t.match(panic, { code: 3, message: 'execution reverted: arithmetic underflow or overflow' }, `${method}: panic 0x11`)
      const custom = await rpcError(method, [{ from: alice.address, to: customReverting }])
      t.match(custom, { code: 3, message: `execution reverted: NotProvider(${alice.address})` }, `${method}: MedRec custom error, decoded`)
      t.equal(custom.data, `0x${NOT_PROVIDER}${alice.address.slice(2).toLowerCase().padStart(64, '0')}`, 'revert data as geth')
      const unknown = await rpcError(method, [{ from: alice.address, to: unknownReverting }])
      t.match(unknown, { code: 3, message: 'execution reverted: custom error 0xdeadbeef' }, `${method}: unknown selector named`)
      const opcode = await rpcError(method, [{ from: alice.address, to: badOpcode }])
      t.match(opcode, { code: -32000, message: 'invalid opcode: opcode 0xc not defined' }, `${method}: the opcode, not gas`)
    }
  })

  t.test('eth_estimateGas as geth: enough to succeed, within 1.5% of the least', async (t) => {
    const est = BigInt(await rpc<Hex>(url, 'eth_estimateGas', [{ from: alice.address, to: C }, 'latest', withCode(STORE_ONE)]))
    t.equal(await rpc(url, 'eth_call', [{ from: alice.address, to: C, gas: numberToHex(est) }, 'latest', withCode(STORE_ONE)]), '0x', 'the estimate succeeds')
    const under = await rpcRaw(url, 'eth_call', [{ from: alice.address, to: C, gas: numberToHex((est * 985n) / 1000n - 1n) }, 'latest', withCode(STORE_ONE)])
    t.ok(under.error !== undefined, '1.5% less fails: the estimate is tight')
    const allowance = await rpcError('eth_estimateGas', [{ from: alice.address, to: C, gas: numberToHex(30_000) }, 'latest', withCode(STORE_ONE)])
    t.match(allowance, { code: -32000, message: 'gas required exceeds allowance (30000)' })
    // With a price, the caller's balance bounds the gas (geth): none at all, or enough for 30,000 gas only.
    const poor = '0x00000000000000000000000000000000000000aa'
    const priced = { from: poor, to: C, gasPrice: numberToHex(10n ** 9n) }
    t.match(await rpcError('eth_estimateGas', [priced, 'latest', withCode(STORE_ONE)]), { code: -32000, message: 'insufficient funds for transfer' })
    const funded = { ...withCode(STORE_ONE), [poor]: { balance: numberToHex(30_000n * 10n ** 9n) } }
    t.match(await rpcError('eth_estimateGas', [priced, 'latest', funded]), { code: -32000, message: 'gas required exceeds allowance (30000)' })
  })

  t.test('EIP-7702: authorizationList delegates the signer in eth_call and is charged in eth_estimateGas', async (t) => {
    // A key nothing else signs with: its nonce is read once below and must not move meanwhile.
    const signer = privateKeyToAccount(keccak256(toHex('medrec test account: calls-geth signer')))
    const nonce = Number(await rpc<Hex>(url, 'eth_getTransactionCount', [signer.address, 'latest']))
    const auth = await signer.signAuthorization({ chainId: CHAIN_ID, address: C, nonce })
    // r and s as quantities (geth's JSON: no leading zeros); viem gives them as 32 padded bytes.
    const authorizationList = [{ chainId: numberToHex(auth.chainId), address: auth.address, nonce: numberToHex(auth.nonce), yParity: numberToHex(auth.yParity ?? 0), r: numberToHex(BigInt(auth.r)), s: numberToHex(BigInt(auth.s)) }]
    const overrides = withCode(RETURN_42)
    t.equal(await rpc(url, 'eth_call', [{ from: alice.address, to: signer.address, authorizationList }, 'latest', overrides]), word(42), 'the signer runs the delegate code')
    t.equal(await rpc(url, 'eth_call', [{ from: alice.address, to: signer.address }, 'latest', overrides]), '0x', 'without the list: a plain account')
    const est = BigInt(await rpc<Hex>(url, 'eth_estimateGas', [{ from: alice.address, to: signer.address, authorizationList }, 'latest', overrides]))
    t.ok(est >= 46_000n, `25,000 per authorization on top of 21,000 (${est})`)
    const stale = [{ ...authorizationList[0], nonce: numberToHex(nonce + 5) }]
    t.equal(await rpc(url, 'eth_call', [{ from: alice.address, to: signer.address, authorizationList: stale }, 'latest', overrides]), '0x', 'a tuple with the wrong nonce is skipped, as in a block')

    // A self-signed tuple, as a set-code transaction runs it: the sender's nonce n becomes n + 1, the
    // tuple (nonce n + 1) makes it n + 2, and code running at the signer creates at nonce n + 2 (a
    // second bump by the message itself would move it to n + 3).
    const own = await signer.signAuthorization({ chainId: CHAIN_ID, address: C, nonce: nonce + 1 })
    const ownList = [{ chainId: numberToHex(own.chainId), address: own.address, nonce: numberToHex(own.nonce), yParity: numberToHex(own.yParity ?? 0), r: numberToHex(BigInt(own.r)), s: numberToHex(BigInt(own.s)) }]
    const created = await rpc<Hex>(url, 'eth_call', [{ from: signer.address, to: signer.address, authorizationList: ownList }, 'latest', withCode(CREATE_EMPTY)])
    t.equal(`0x${created.slice(-40)}`, getContractAddress({ from: signer.address, nonce: BigInt(nonce + 2) }).toLowerCase(), 'the sender\'s nonce is bumped once, before the tuples')
  })
}
