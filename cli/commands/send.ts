/**
 * `medrec send`: a value transfer signed with a keystore account (Foundry's `cast send --value`,
 * geth's `eth.sendTransaction`). The chain's genesis funds only whom it names, so this is how an
 * operator funds the accounts that pay for their own transactions (a patient's accept, share, revoke).
 */
import { formatDuration, parseDuration } from '../../common/duration.ts'
import { errorMessage } from '../../common/errors.ts'
import { openKeystore, parsePrivateKey, toChecksumAddress } from '../../node/keys/index.ts'
import { parseAddressFlag, parseInteger, parseWei } from '../args.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { assertPasswordSource, getPassword, out, outJson } from '../io.ts'
import { RPC_URL, callNode } from '../rpc-client.ts'
import type { CommandSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT, PASSWORD, datadirPaths, readInputFile } from './shared.ts'

const hex = (b: Uint8Array): `0x${string}` => `0x${Buffer.from(b).toString('hex')}`
const DEFAULT_TIMEOUT = '60s'
const POLL_MS = 250

interface RpcReceipt {
  transactionHash: string
  blockNumber: string
  blockHash: string
  gasUsed: string
  status: string
}

export interface SendResult {
  hash: string
  from: string
  to: string
  /** Wei, decimal. */
  value: string
  blockNumber: number
  blockHash: string
  gasUsed: number
  status: 'success' | 'reverted'
}

/**
 * The same flags without --datadir: here it names a keystore, and a transfer needs no token, so
 * the RPC client must not go looking for that data dir's jwtsecret (a wallet-only dir has none).
 */
function withoutDatadir(flags: ParsedFlags): ParsedFlags {
  return {
    command: flags.command,
    positionals: flags.positionals,
    string: (n) => (n === 'datadir' ? undefined : flags.string(n)),
    boolean: (n) => flags.boolean(n),
    all: (n) => (n === 'datadir' ? [] : flags.all(n)),
    has: (n) => n !== 'datadir' && flags.has(n),
  }
}

/** The signing key: --private-key-file, or a keystore account (--from, else the keystore's only one). */
async function signingKey(flags: ParsedFlags): Promise<Uint8Array> {
  const keyFile = flags.string('private-key-file')
  const dir = flags.string('keystore') ?? (flags.has('datadir') ? datadirPaths(flags.string('datadir')!).keystore : undefined)
  if (keyFile !== undefined) {
    if (dir !== undefined || flags.has('password')) throw usageError('--private-key-file replaces --datadir/--keystore and --password: give one key source')
    return parsePrivateKey(await readInputFile(keyFile, 'private key file'))
  }
  if (dir === undefined) throw usageError(`missing the sender for "${flags.command}": pass --datadir DIR (its keystore) or --keystore DIR, with --from ADDRESS, or --private-key-file FILE`)
  const ks = openKeystore(dir)
  let from = flags.has('from') ? parseAddressFlag(flags.string('from')!, 'from') : undefined
  if (from === undefined) {
    const accounts = await ks.list()
    if (accounts.length !== 1) {
      throw usageError(`missing --from ADDRESS: ${dir} holds ${accounts.length === 0 ? 'no account' : `${accounts.length} accounts (${accounts.map((a) => toChecksumAddress(a.address)).join(', ')})`}`)
    }
    from = accounts[0]!.address
  }
  assertPasswordSource(flags.string('password'), 'password')
  const password = await getPassword({ file: flags.string('password'), flag: 'password', what: toChecksumAddress(from), confirm: false })
  return ks.unlock(from, password)
}

export const sendCommand: CommandSpec = {
  kind: 'command',
  path: 'send',
  summary: 'send ether from a keystore account and wait for the receipt',
  usage: 'send --to ADDRESS --value AMOUNT (--datadir DIR | --keystore DIR) [--from ADDRESS] [--password FILE] [--rpc URL] [--json]',
  description:
    'Signs an EIP-1559 transfer of --value to --to with a keystore account, sends it to the node at\n' +
    '--rpc, waits until a block includes it and prints the hash, block and status (exit 1 if it\n' +
    'reverted or was not included within --timeout). The key comes from the keystore of --datadir\n' +
    'DIR (or --keystore DIR), account --from (the only account when there is one), unlocked with\n' +
    '--password FILE; or from --private-key-file FILE. No node token is needed.',
  flags: [
    { name: 'to', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'the recipient' },
    { name: 'value', kind: 'string', placeholder: 'AMOUNT', default: 'required', description: 'wei, or an amount with a unit: 10ether, 1.5gwei' },
    { name: 'from', kind: 'string', placeholder: 'ADDRESS', default: 'the keystore\'s only account', description: 'the sending keystore account' },
    { name: 'datadir', kind: 'string', placeholder: 'DIR', default: 'none', description: 'a data dir whose keystore/ holds the sender' },
    { name: 'keystore', kind: 'string', placeholder: 'DIR', default: 'DIR/keystore', description: 'a keystore directory instead of --datadir' },
    PASSWORD,
    { name: 'private-key-file', kind: 'string', placeholder: 'FILE', default: 'none', description: 'sign with the hex private key in FILE instead of a keystore account' },
    { name: 'gas', kind: 'string', placeholder: 'N', default: 'estimated', description: 'gas limit' },
    { name: 'timeout', kind: 'string', placeholder: 'D', default: DEFAULT_TIMEOUT, description: 'how long to wait for the receipt (30s, 2m)' },
    RPC_URL,
    JSON_OUT,
  ],
  examples: ['medrec send --datadir ./hospital --password pw.txt --to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --value 1ether'],
  async run(flags) {
    const toFlag = flags.string('to')
    if (toFlag === undefined) throw usageError(`missing --to ADDRESS for "${flags.command}"`)
    const to = parseAddressFlag(toFlag, 'to')
    const valueFlag = flags.string('value')
    if (valueFlag === undefined) throw usageError(`missing --value AMOUNT for "${flags.command}" (e.g. --value 1ether)`)
    const value = parseWei(valueFlag, 'value')
    const gasFlag = flags.has('gas') ? parseInteger(flags.string('gas')!, 'gas', 21_000n, 2n ** 63n - 1n) : undefined
    let timeoutMs: number
    try {
      timeoutMs = parseDuration(flags.string('timeout') ?? DEFAULT_TIMEOUT)
    } catch (err) {
      throw usageError(`invalid value for --timeout: ${errorMessage(err)}`)
    }
    if (flags.has('keystore') && flags.has('datadir')) throw usageError('give --datadir DIR or --keystore DIR, not both')

    // viem loads here, not at the top: every `medrec` call imports this module for its flags.
    const { privateKeyToAccount } = await import('viem/accounts')
    const account = privateKeyToAccount(hex(await signingKey(flags)))
    const rpcFlags = withoutDatadir(flags)
    const call = <T>(method: string, params: unknown[]): Promise<T> => callNode(rpcFlags, method, params) as Promise<T>
    const [chainId, nonce, latest, tip] = await Promise.all([
      call<string>('eth_chainId', []),
      call<string>('eth_getTransactionCount', [account.address, 'pending']),
      call<{ baseFeePerGas?: string } | null>('eth_getBlockByNumber', ['latest', false]),
      call<string>('eth_maxPriorityFeePerGas', []),
    ])
    const toHex = hex(to)
    const gas = gasFlag ?? BigInt(await call<string>('eth_estimateGas', [{ from: account.address, to: toHex, value: `0x${value.toString(16)}` }]))
    const baseFee = latest?.baseFeePerGas === undefined ? 0n : BigInt(latest.baseFeePerGas)
    const maxPriorityFeePerGas = BigInt(tip)
    const raw = await account.signTransaction({
      type: 'eip1559',
      chainId: Number(BigInt(chainId)),
      nonce: Number(BigInt(nonce)),
      to: toHex,
      value,
      gas,
      // Room for the base fee to double before the transfer stops being executable.
      maxFeePerGas: baseFee * 2n + maxPriorityFeePerGas,
      maxPriorityFeePerGas,
    })
    const hash = await call<string>('eth_sendRawTransaction', [raw])
    const deadline = Date.now() + timeoutMs
    let receipt: RpcReceipt | null = null
    while ((receipt = await call<RpcReceipt | null>('eth_getTransactionReceipt', [hash])) === null) {
      if (Date.now() > deadline) {
        throw new CliError(CliErrorCode.RPC, `transaction ${hash} was sent but not included within ${formatDuration(timeoutMs)}: is the chain sealing (an authority or miner running)? Check later with eth_getTransactionReceipt`)
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
    const result: SendResult = {
      hash,
      from: account.address,
      to: toChecksumAddress(to),
      value: value.toString(),
      blockNumber: Number(BigInt(receipt.blockNumber)),
      blockHash: receipt.blockHash,
      gasUsed: Number(BigInt(receipt.gasUsed)),
      status: BigInt(receipt.status) === 1n ? 'success' : 'reverted',
    }
    if (flags.boolean('json')) outJson(result)
    else {
      out(`transactionHash  ${result.hash}`)
      out(`blockNumber      ${result.blockNumber}`)
      out(`status           ${result.status === 'success' ? '1 (success)' : '0 (reverted)'}`)
      out(`from             ${result.from}`)
      out(`to               ${result.to}`)
      out(`value            ${result.value} wei`)
      out(`gasUsed          ${result.gasUsed}`)
    }
    if (result.status === 'reverted') throw new CliError(CliErrorCode.RPC, `transaction ${hash} reverted in block ${result.blockNumber}`)
  },
}
