import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'

/** Hex helpers in the shapes the Ethereum JSON-RPC spec uses. */
export type Hex = `0x${string}`

// Node's Buffer does hex natively (several times faster on large data); the browser app, which
// bundles this file, has no Buffer and uses @noble's. Same output either way.
interface HexBuffer {
  from(b: ArrayBufferLike, offset: number, length: number): { toString(encoding: 'hex'): string }
  from(s: string, encoding: 'hex'): Uint8Array
}
const NodeBuffer = (globalThis as { Buffer?: HexBuffer }).Buffer

/** A QUANTITY: minimal hex, "0x0" for zero. */
export function toQuantity(n: bigint | number): Hex {
  return `0x${n.toString(16)}`
}
/** DATA: bytes as 0x-prefixed even-length hex. */
export function toData(b: Uint8Array): Hex {
  return `0x${NodeBuffer !== undefined ? NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : bytesToHex(b)}`
}
export function fromHex(h: string): Uint8Array {
  const s = h.startsWith('0x') || h.startsWith('0X') ? h.slice(2) : h
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError(`not hex data: ${h.slice(0, 80)}`)
  return NodeBuffer !== undefined ? new Uint8Array(NodeBuffer.from(s, 'hex')) : hexToBytes(s)
}
