import { encodeFunctionData } from 'viem'
import { smallBankAbi, smallBankBytecode } from '../../../contracts/generated/bench/small-bank.ts'
import { hexToU8, runContractSetup, type ContractSetup, type SetupTx } from './contract-setup.ts'
import type { Workload, WorkloadPlan } from './types.ts'
import { seededRandom, uniformInt } from './zipf.ts'
import { catalogEntry, SMALLBANK_ACCOUNTS } from './catalog.ts'

/** Accounts per opening transaction: measured 4.54M gas for 100 (two fresh slots each). */
export const SMALLBANK_OPEN_BATCH = 100
export const SMALLBANK_OPEN_GAS_LIMIT = 6_000_000n
/** Every Smallbank call touches at most four slots (measured 26–50k gas); one limit with headroom. */
export const SMALLBANK_GAS_LIMIT = 120_000n
/** Opening balances, as H-Store's Smallbank draws them. */
export const SMALLBANK_MIN_BALANCE = 10_000
export const SMALLBANK_MAX_BALANCE = 50_000
/** Amounts moved by one call: 1..100 (TransactSavings: -100..100). */
export const SMALLBANK_MAX_AMOUNT = 100
const OPEN_SEED = 0x5ba4
const RUN_SEED = 0x5bb1

/** The opening balances of an account. */
export function smallbankOpening(account: number): { savings: bigint; checking: bigint } {
  const r = seededRandom(OPEN_SEED, account)
  return { savings: BigInt(uniformInt(r(), SMALLBANK_MIN_BALANCE, SMALLBANK_MAX_BALANCE)), checking: BigInt(uniformInt(r(), SMALLBANK_MIN_BALANCE, SMALLBANK_MAX_BALANCE)) }
}

export function smallbankSetup(accounts = SMALLBANK_ACCOUNTS): ContractSetup {
  return {
    initcode: smallBankBytecode,
    deployGas: 1_500_000n,
    txs(contract) {
      const txs: SetupTx[] = []
      for (let first = 0; first < accounts; first += SMALLBANK_OPEN_BATCH) {
        const open = Array.from({ length: Math.min(SMALLBANK_OPEN_BATCH, accounts - first) }, (_, i) => smallbankOpening(first + i))
        const data = encodeFunctionData({ abi: smallBankAbi, functionName: 'openAccounts', args: [BigInt(first), open.map((o) => o.savings), open.map((o) => o.checking)] })
        txs.push({ fields: { to: contract, data: hexToU8(data), gasLimit: SMALLBANK_OPEN_GAS_LIMIT }, done: `opened ${first + open.length}/${accounts} accounts` })
      }
      return txs
    },
  }
}

export type SmallbankCall =
  | { op: 'amalgamate'; from: number; to: number }
  | { op: 'balance'; account: number }
  | { op: 'depositChecking'; account: number; amount: bigint }
  | { op: 'sendPayment'; from: number; to: number; amount: bigint }
  | { op: 'transactSavings'; account: number; amount: bigint }
  | { op: 'writeCheck'; account: number; amount: bigint }

/**
 * Smallbank's standard mix as a pure function of (sender, seq): Amalgamate 15 %, Balance 15 %,
 * DepositChecking 15 %, SendPayment 25 %, TransactSavings 15 %, WriteCheck 15 %, accounts drawn
 * uniformly (two distinct ones where a call names two).
 */
export function smallbankCall(sender: number, seq: number, accounts = SMALLBANK_ACCOUNTS): SmallbankCall {
  const r = seededRandom(RUN_SEED, sender, seq)
  const pick = r() * 100
  const a = uniformInt(r(), 0, accounts - 1)
  const b = (a + uniformInt(r(), 1, accounts - 1)) % accounts
  const amount = BigInt(uniformInt(r(), 1, SMALLBANK_MAX_AMOUNT))
  if (pick < 15) return { op: 'amalgamate', from: a, to: b }
  if (pick < 30) return { op: 'balance', account: a }
  if (pick < 45) return { op: 'depositChecking', account: a, amount }
  if (pick < 70) return { op: 'sendPayment', from: a, to: b, amount }
  if (pick < 85) return { op: 'transactSavings', account: a, amount: r() < 0.5 ? -amount : amount }
  return { op: 'writeCheck', account: a, amount }
}

function encode(c: SmallbankCall): `0x${string}` {
  switch (c.op) {
    case 'amalgamate':
      return encodeFunctionData({ abi: smallBankAbi, functionName: 'amalgamate', args: [BigInt(c.from), BigInt(c.to)] })
    case 'balance':
      return encodeFunctionData({ abi: smallBankAbi, functionName: 'balance', args: [BigInt(c.account)] })
    case 'depositChecking':
      return encodeFunctionData({ abi: smallBankAbi, functionName: 'depositChecking', args: [BigInt(c.account), c.amount] })
    case 'sendPayment':
      return encodeFunctionData({ abi: smallBankAbi, functionName: 'sendPayment', args: [BigInt(c.from), BigInt(c.to), c.amount] })
    case 'transactSavings':
      return encodeFunctionData({ abi: smallBankAbi, functionName: 'transactSavings', args: [BigInt(c.account), c.amount] })
    case 'writeCheck':
      return encodeFunctionData({ abi: smallBankAbi, functionName: 'writeCheck', args: [BigInt(c.account), c.amount] })
  }
}

export function smallbankPlan(contract: string, accounts = SMALLBANK_ACCOUNTS): WorkloadPlan {
  const to = hexToU8(contract)
  return { contract, tx: (sender, seq) => ({ to, data: hexToU8(encode(smallbankCall(sender, seq, accounts))), gasLimit: SMALLBANK_GAS_LIMIT }) }
}

/** Smallbank (as in BlockBench): savings and checking accounts under the standard transaction mix. */
export const smallbank: Workload = {
  ...catalogEntry('smallbank'),
  setup: async (ctx) => smallbankPlan(await runContractSetup(ctx, 'smallbank', smallbankSetup())),
}

export { SMALLBANK_ACCOUNTS }
