/** Hex helpers in the shapes the Ethereum JSON-RPC spec uses. */
export type Hex = `0x${string}`

/** A QUANTITY: minimal hex, "0x0" for zero. */
export function toQuantity(n: bigint | number): Hex {
  return `0x${n.toString(16)}`
}
/** DATA: bytes as 0x-prefixed even-length hex. */
export function toData(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`
}
export function fromHex(h: string): Uint8Array {
  const s = h.startsWith('0x') || h.startsWith('0X') ? h.slice(2) : h
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError(`not hex data: ${h.slice(0, 80)}`)
  return new Uint8Array(Buffer.from(s, 'hex'))
}
