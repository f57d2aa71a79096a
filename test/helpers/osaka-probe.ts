import { createRequire } from 'node:module'
import { hexToBytes } from '@ethereumjs/util'
import type { Abi } from 'viem'

/**
 * A contract that uses what Cancun and Osaka added to the EVM (CLZ in inline assembly, transient
 * storage, MCOPY for memory copies), compiled by the project's pinned solc with its default
 * settings: no evmVersion, so solc's default target (osaka for 0.8.37).
 */
const PROBE = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.31;
contract OsakaProbe {
    uint256 public stored;
    uint256 transient lock;
    function clz(uint256 x) external pure returns (uint256 r) {
        assembly { r := clz(x) }
    }
    function twice(bytes memory data) external pure returns (bytes memory) {
        return bytes.concat(data, data);
    }
    function blobs() external view returns (bytes32 h, uint256 fee) {
        h = blobhash(0);
        fee = block.blobbasefee;
    }
    function guarded(uint256 v) external returns (uint256) {
        require(lock == 0, "reentered");
        lock = v;
        stored = lock + 1;
        return stored;
    }
}
`

interface SolcOut {
  errors?: Array<{ severity: string; formattedMessage: string }>
  contracts: Record<string, Record<string, { abi: Abi; metadata: string; evm: { bytecode: { object: string }; deployedBytecode: { opcodes: string } } }>>
}

/** Compiled by the project's pinned solc with its default settings: no evmVersion given. */
export function compileProbe(): { abi: Abi; initCode: Uint8Array; evmVersion: string; opcodes: string } {
  const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string }
  const input = { language: 'Solidity', sources: { 'probe.sol': { content: PROBE } }, settings: { outputSelection: { '*': { '*': ['abi', 'metadata', 'evm.bytecode.object', 'evm.deployedBytecode.opcodes'] } } } }
  const out = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOut
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'))
  const c = out.contracts['probe.sol']!.OsakaProbe!
  const evmVersion = (JSON.parse(c.metadata) as { settings: { evmVersion: string } }).settings.evmVersion
  return { abi: c.abi, initCode: hexToBytes(`0x${c.evm.bytecode.object}`), evmVersion, opcodes: c.evm.deployedBytecode.opcodes }
}

