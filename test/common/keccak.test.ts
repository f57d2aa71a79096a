import t from 'tap'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from '@ethereumjs/util'
import { keccak256 } from '../../common/keccak.ts'
import { createChainCommon, createDecodeCommon, createExecCommon } from '../../evm/index.ts'

t.test('the WebAssembly keccak-256 equals @noble/hashes at every length across its block boundaries', async (t) => {
  const hex = (b: Uint8Array) => bytesToHex(b)
  t.equal(hex(keccak256(new Uint8Array())), '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470', 'empty input')
  let mismatches = 0
  let seed = 1
  for (let len = 0; len <= 700; len++) {
    const data = new Uint8Array(len).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24)
    if (hex(keccak256(data)) !== hex(keccak_256(data))) mismatches++
  }
  t.equal(mismatches, 0, 'lengths 0..700 (rate 136: 0, 1, 5 and more blocks)')
  const big = new Uint8Array(300_000).map((_, i) => i * 13)
  t.equal(hex(keccak256(big)), hex(keccak_256(big)), '300 KB')
  // A view into a larger buffer hashes only its own bytes.
  const view = big.subarray(1000, 1100)
  t.equal(hex(keccak256(view)), hex(keccak_256(view.slice())), 'a subarray')
  // Calls do not leak state into each other.
  t.equal(hex(keccak256(new Uint8Array([1]))), hex(keccak_256(new Uint8Array([1]))))
})

t.test('every Common the node builds hashes with it', async (t) => {
  const chain = createChainCommon({ chainId: 1337n, period: 2 })
  for (const [name, c] of [['chain', chain], ['decode', createDecodeCommon(chain)], ['exec', createExecCommon(1337n)]] as const) {
    t.equal(c.customCrypto.keccak256, keccak256, name)
  }
})
