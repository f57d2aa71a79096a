import type { Test } from 'tap'
import { padHex, toHex, type Hex } from 'viem'
import { rpc, rpcRaw, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * debug_traceCall with geth's TraceCallConfig (stateOverrides, blockOverrides) and the message
 * extras eth_call takes (accessList), traced through eth_call's own path; and
 * movePrecompileToAddress in state overrides (eth_call, eth_estimateGas, debug_traceCall), as
 * geth's StateOverride.Apply: the precompile answers at the new address and no longer at its own.
 * Hostile requests: moving what is not a precompile, moving onto an overridden account, and a
 * moved precompile that must not leak into the next call on the same kept VM. On the shared main
 * node (test/rpc/dev-node.test.ts).
 */

const FROM = '0x00000000000000000000000000000000000000f0'
const CONTRACT = '0x00000000000000000000000000000000000c0de1'
const IDENTITY = '0x0000000000000000000000000000000000000004'
const MOVED = '0x0000000000000000000000000000000000001234'
const word = (n: bigint | number): Hex => padHex(toHex(n), { size: 32 })

// Returns slot 0 (SLOAD 0, MSTORE 0, RETURN 32 bytes).
const RETURN_SLOT0: Hex = '0x60005460005260206000f3'
// Returns NUMBER.
const RETURN_NUMBER: Hex = '0x4360005260206000f3'
// Copies its calldata to memory, STATICCALLs MOVED with it, returns what came back.
const CALL_MOVED = `0x3660006000376020600036600073${MOVED.slice(2)}5afa503d600060003e3d6000f3` as Hex

export default function traceOverrides(t: Test, node: NodeProcess): void {
  t.test('debug_traceCall and movePrecompileToAddress against a dev node', async (t) => {
    const url = node.url

    await t.test('debug_traceCall honours stateOverrides (code and stateDiff)', async (t) => {
      const frame = await rpc<{ output: string; type: string }>(url, 'debug_traceCall', [
        { from: FROM, to: CONTRACT },
        'latest',
        { tracer: 'callTracer', stateOverrides: { [CONTRACT]: { code: RETURN_SLOT0, stateDiff: { [word(0)]: word(0x2a) } } } },
      ])
      t.equal(frame.output, word(0x2a), 'the overridden code ran and read the overridden slot')
      const plain = await rpc<string>(url, 'eth_call', [{ from: FROM, to: CONTRACT }, 'latest', { [CONTRACT]: { code: RETURN_SLOT0, stateDiff: { [word(0)]: word(0x2a) } } }])
      t.equal(plain, frame.output, 'the same answer as eth_call with the same override')
    })

    await t.test('debug_traceCall honours blockOverrides', async (t) => {
      const frame = await rpc<{ output: string }>(url, 'debug_traceCall', [
        { from: FROM, to: CONTRACT },
        'latest',
        { tracer: 'callTracer', stateOverrides: { [CONTRACT]: { code: RETURN_NUMBER } }, blockOverrides: { number: '0x7777' } },
      ])
      t.equal(frame.output, word(0x7777), 'NUMBER is the overridden block number')
    })

    await t.test('debug_traceCall charges an access list as eth_call does', async (t) => {
      const list = [{ address: CONTRACT, storageKeys: [word(1)] }]
      const trace = await rpc<{ gas: number; failed: boolean }>(url, 'debug_traceCall', [{ from: FROM, to: CONTRACT, accessList: list }, 'latest'])
      t.equal(trace.failed, false)
      t.equal(trace.gas, 21_000 + 2_400 + 1_900, 'intrinsic gas with one address and one key (EIP-2930)')
      const estimate = await rpc<Hex>(url, 'eth_estimateGas', [{ from: FROM, to: CONTRACT, accessList: list }])
      t.ok(BigInt(estimate) >= 25_300n, 'the estimate agrees')
    })

    await t.test('debug_traceCall refuses what it cannot honour, and a message below its intrinsic gas', async (t) => {
      const txIndex = await rpcRaw(url, 'debug_traceCall', [{ from: FROM, to: CONTRACT }, 'latest', { txIndex: '0x0' }])
      t.equal(txIndex.error?.code, -32602)
      const low = await rpcRaw(url, 'debug_traceCall', [{ from: FROM, to: CONTRACT, gas: '0x5000' }, 'latest'])
      t.equal(low.error?.code, -32000)
      t.match(low.error?.message, /intrinsic gas too low: have 20480, want 21000/)
      const both = await rpcRaw(url, 'debug_traceCall', [{ from: FROM, to: CONTRACT }, 'latest', { stateOverrides: { [CONTRACT]: { state: {}, stateDiff: {} } } }])
      t.match(both.error?.message, /both 'state' and 'stateDiff'/)
    })

    await t.test('movePrecompileToAddress: the precompile answers at the new address, not at its own', async (t) => {
      const input = '0xdeadbeef'
      const overrides = { [IDENTITY]: { movePrecompileToAddress: MOVED } }
      t.equal(await rpc<string>(url, 'eth_call', [{ from: FROM, to: MOVED, data: input }, 'latest', overrides]), input, 'identity at its new address')
      t.equal(await rpc<string>(url, 'eth_call', [{ from: FROM, to: IDENTITY, data: input }, 'latest', overrides]), '0x', 'nothing at the old one')
      // A contract calling the moved precompile, traced: the inner frame went to the new address.
      const frame = await rpc<{ output: string; calls: Array<{ type: string; to: string; output: string }> }>(url, 'debug_traceCall', [
        { from: FROM, to: CONTRACT, data: input },
        'latest',
        { tracer: 'callTracer', stateOverrides: { ...overrides, [CONTRACT]: { code: CALL_MOVED } } },
      ])
      t.equal(frame.calls[0]?.to, MOVED)
      t.equal(frame.calls[0]?.output, input)
      t.equal(frame.output, input)
      const gas = await rpc<Hex>(url, 'eth_estimateGas', [{ from: FROM, to: MOVED, data: input }, 'latest', overrides])
      t.ok(BigInt(gas) > 21_000n, `estimateGas runs the moved precompile (${BigInt(gas)})`)
    })

    await t.test('a moved precompile does not outlive its call (the VM is kept for the next one)', async (t) => {
      for (let i = 0; i < 3; i++) await rpc(url, 'eth_call', [{ from: FROM, to: MOVED, data: '0x01' }, 'latest', { [IDENTITY]: { movePrecompileToAddress: MOVED } }])
      t.equal(await rpc<string>(url, 'eth_call', [{ from: FROM, to: IDENTITY, data: '0xabcd' }, 'latest']), '0xabcd', 'identity is back at 0x04')
      t.equal(await rpc<string>(url, 'eth_call', [{ from: FROM, to: MOVED, data: '0xabcd' }, 'latest']), '0x', 'and gone from the address it was moved to')
    })

    await t.test('hostile moves are refused as geth refuses them', async (t) => {
      const notPrecompile = await rpcRaw(url, 'eth_call', [{ from: FROM, to: MOVED }, 'latest', { [CONTRACT]: { movePrecompileToAddress: MOVED } }])
      t.equal(notPrecompile.error?.code, -32000)
      t.match(notPrecompile.error?.message, /account 0x0+c0de1 is not a precompile/i)
      const onto = await rpcRaw(url, 'eth_call', [{ from: FROM, to: MOVED }, 'latest', { [IDENTITY]: { movePrecompileToAddress: CONTRACT }, [CONTRACT]: { code: RETURN_NUMBER } }])
      t.equal(onto.error?.code, -32000)
      t.match(onto.error?.message, /is already overridden/)
      // After a refused request the precompiles are whole.
      t.equal(await rpc<string>(url, 'eth_call', [{ from: FROM, to: IDENTITY, data: '0x0102' }, 'latest']), '0x0102')
    })
  })
}
