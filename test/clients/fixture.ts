/**
 * What the real-client tests (cast, ethers, viem) share: the dev chain's keys and a test contract
 * compiled by the project's pinned solc with its default settings (no evmVersion: Osaka for 0.8.37),
 * so deploying it also proves that solc-default bytecode (CLZ, MCOPY, transient storage) runs.
 */
import { verifyMerkleProof } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { createRequire } from 'node:module'
import type { Abi, Hex } from 'viem'

/** The dev chain's mnemonic (anvil's and hardhat's); `--dev` funds and unlocks its first ten accounts. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'
/** The dev mnemonic's first three keys (`test test … junk`, funded and unlocked by `--dev`). */
export const DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
] as const satisfies readonly Hex[]
export const DEV_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
] as const satisfies readonly Hex[]
export const DEV_CHAIN_ID = 1337

/** `--dev` with 1 s blocks: the node test/clients/clients.test.ts starts for the three clients. */
export const DEV_ARGS = ['--dev.period', '1']

const SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.31;

/// Test fixture for the real-client tests: events, the three kinds of revert, a nested call,
/// block fields, payable deposits, and what Cancun/Osaka added (CLZ, MCOPY, transient storage).
contract ClientProbe {
    uint256 public stored;                        // slot 0
    mapping(address => uint256) public deposits;  // slot 1
    uint256 transient lock;

    event Stored(address indexed who, uint256 value);
    event Deposited(address indexed from, uint256 amount);
    error TooSmall(uint256 got, uint256 min);

    function store(uint256 v) public returns (uint256) {
        require(v <= 1000, "ClientProbe: value too large");
        require(lock == 0, "ClientProbe: reentered");
        lock = v;
        stored = v;
        emit Stored(msg.sender, v);
        return v;
    }
    /// Calls store() through an external call: a nested frame for the call tracer.
    function storeViaSelf(uint256 v) external returns (uint256) {
        return this.store(v);
    }
    function checkMin(uint256 v) external pure returns (uint256) {
        if (v < 10) revert TooSmall(v, 10);
        return v;
    }
    function divide(uint256 a, uint256 b) external pure returns (uint256) {
        return a / b;
    }
    function clz(uint256 x) external pure returns (uint256 r) {
        assembly { r := clz(x) }
    }
    function twice(bytes memory data) external pure returns (bytes memory) {
        return bytes.concat(data, data);
    }
    function blockInfo() external view returns (uint256 number, uint256 time, address coinbase) {
        return (block.number, block.timestamp, block.coinbase);
    }
    function balanceOf(address who) external view returns (uint256) {
        return who.balance;
    }
    function deposit() external payable {
        deposits[msg.sender] += msg.value;
        emit Deposited(msg.sender, msg.value);
    }
}
`

interface SolcOut {
  errors?: Array<{ severity: string; formattedMessage: string }>
  contracts: Record<string, Record<string, { abi: Abi; metadata: string; evm: { bytecode: { object: string }; deployedBytecode: { object: string; opcodes: string } } }>>
}

export interface Probe {
  abi: Abi
  bytecode: Hex
  deployedBytecode: Hex
  /** The target solc chose (its metadata's settings.evmVersion). */
  evmVersion: string
  opcodes: string
}

/**
 * solc-js, without the process handlers its Emscripten module installs on load: they rethrow any
 * unhandled rejection or uncaught exception, which would kill the test process instead of letting
 * tap report it against the test that caused it.
 */
function loadSolc(): { compile(input: string): string } {
  const rejections = new Set(process.listeners('unhandledRejection'))
  const exceptions = new Set(process.listeners('uncaughtException'))
  const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string }
  for (const l of process.listeners('unhandledRejection')) if (!rejections.has(l)) process.off('unhandledRejection', l)
  for (const l of process.listeners('uncaughtException')) if (!exceptions.has(l)) process.off('uncaughtException', l)
  return solc
}

/** ClientProbe compiled by the pinned solc with its defaults (a second or two of solc-js). */
export function compileProbe(): Probe {
  const solc = loadSolc()
  const input = {
    language: 'Solidity',
    sources: { 'ClientProbe.sol': { content: SOURCE } },
    settings: { outputSelection: { '*': { '*': ['abi', 'metadata', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.deployedBytecode.opcodes'] } } },
  }
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOut
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'))
  const c = out.contracts['ClientProbe.sol']!.ClientProbe!
  const evmVersion = (JSON.parse(c.metadata) as { settings: { evmVersion: string } }).settings.evmVersion
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}`, evmVersion, opcodes: c.evm.deployedBytecode.opcodes }
}

/** What eth_getProof answers (EIP-1186), as far as checking it needs. */
export interface ProofJson {
  address: Hex
  accountProof: readonly Hex[]
  storageHash: Hex
  storageProof: ReadonlyArray<{ key: Hex; proof: readonly Hex[] }>
}

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.slice(2), 'hex'))
const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`
const quantity = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt(hex(b)))

/**
 * Checks a proof as a light client would: the account leaf against the block's state root, each
 * slot against the storage root in that leaf (not the answer's own storageHash field). Rejects a
 * proof that does not hash to the roots; answers the proven account and slot values (0 for absent).
 */
export async function verifyProof(p: ProofJson, stateRoot: string): Promise<{ nonce: bigint; balance: bigint; storageRoot: Hex; codeHash: Hex; slots: bigint[] }> {
  const leaf = await verifyMerkleProof(bytes(p.address), p.accountProof.map(bytes), { root: bytes(stateRoot), useKeyHashing: true })
  if (leaf === null) throw new Error(`the proof says ${p.address} is absent`)
  const [nonce, balance, storageRoot, codeHash] = RLP.decode(leaf) as Uint8Array[]
  if (hex(storageRoot!) !== p.storageHash.toLowerCase()) throw new Error(`storageHash ${p.storageHash} is not the proven account's ${hex(storageRoot!)}`)
  const slots: bigint[] = []
  for (const s of p.storageProof) {
    const key = bytes(`0x${s.key.slice(2).padStart(64, '0')}`)
    const value = await verifyMerkleProof(key, s.proof.map(bytes), { root: storageRoot!, useKeyHashing: true })
    slots.push(value === null ? 0n : quantity(RLP.decode(value) as Uint8Array))
  }
  return { nonce: quantity(nonce!), balance: quantity(balance!), storageRoot: hex(storageRoot!), codeHash: hex(codeHash!), slots }
}
