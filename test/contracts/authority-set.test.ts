import t from 'tap'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import { encodeAbiParameters, keccak256, toFunctionSelector, type Hex } from 'viem'
import {
  AUTHORITY_SET_ADDRESS,
  ContractsError,
  ContractsErrorCode,
  PPR_IMPLEMENTATION_ADDRESS,
  REGISTRAR_ADDRESS,
  RELATIONSHIPS_ADDRESS,
  SUMMARY_IMPLEMENTATION_ADDRESS,
  authoritySetAbi,
  authoritySetDeployedBytecode,
  authoritySetStorage,
  authoritySetStorageUpdate,
  decodeResult,
  encodeCall,
  patientProviderRelationshipDeployedBytecode,
  predeployAlloc,
  registrarDeployedBytecode,
  relationshipsDeployedBytecode,
  summaryDeployedBytecode,
} from '../../contracts/index.ts'
import { actor, createContractVM, runtimeOpcodes, type Actor, type ContractVM } from '../helpers/contract-vm.ts'

const [a, b, c, d, stranger] = ['a', 'b', 'c', 'd', 'stranger'].map(actor) as [Actor, Actor, Actor, Actor, Actor]
const ZERO = new Uint8Array(32)
const lower = (h: string) => h.toLowerCase()

async function views(vm: ContractVM) {
  const read = async (data: Hex) => {
    const out = await vm.call(stranger.address, AUTHORITY_SET_ADDRESS, data)
    if (!out.ok) throw new Error(`AuthoritySet call ${data} reverted`)
    return out.returnData
  }
  const isAuthority = async (who: Hex) => decodeResult(authoritySetAbi, 'isAuthority', await read(encodeCall(authoritySetAbi, 'isAuthority', [who])))
  return {
    count: decodeResult(authoritySetAbi, 'count', await read(encodeCall(authoritySetAbi, 'count', []))),
    authorities: decodeResult(authoritySetAbi, 'authorities', await read(encodeCall(authoritySetAbi, 'authorities', []))).map(lower),
    isAuthority,
  }
}

// The documented layout, computed independently of contracts/predeploys.ts (via viem).
const BASE = BigInt(keccak256(encodeAbiParameters([{ type: 'uint256' }], [0n])))
const elementSlot = (i: number) => hexToBytes(encodeAbiParameters([{ type: 'uint256' }], [BASE + BigInt(i)]))
const mappingSlot = (who: Hex) => hexToBytes(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [who, 1n])))
const word = (n: bigint) => hexToBytes(encodeAbiParameters([{ type: 'uint256' }], [n]))
const padded = (who: Hex) => hexToBytes(encodeAbiParameters([{ type: 'address' }], [who]))

const sortedHex = (xs: Actor[]) => xs.map((x) => x.hex).sort()

t.test('authoritySetStorage writes the documented layout, sorted, with 32-byte values', async (t) => {
  const storage = authoritySetStorage([c.address, a.address, b.address])
  const order = sortedHex([a, b, c])
  const expected = [[word(0n), word(3n)], ...order.flatMap((h, i) => [[elementSlot(i), padded(h)], [mappingSlot(h), word(BigInt(i + 1))]])]
  t.same(storage.map(([k, v]) => [bytesToHex(k), bytesToHex(v)]), expected.map(([k, v]) => [bytesToHex(k!), bytesToHex(v!)]))
  for (const [k, v] of storage) {
    t.equal(k.length, 32)
    t.equal(v.length, 32)
  }
  t.same(authoritySetStorage([]), [], 'an empty set has no non-zero slot')
})

t.test('the views answer from storage built by authoritySetStorage', async (t) => {
  const vm = await createContractVM([c.address, a.address, b.address], [])
  const v = await views(vm)
  t.equal(v.count, 3n)
  t.same(v.authorities, sortedHex([a, b, c]), 'authorities() returns the set in ascending (EIP-225) order')
  for (const x of [a, b, c]) t.equal(await v.isAuthority(x.hex), true, `${x.hex} is an authority`)
  t.equal(await v.isAuthority(stranger.hex), false)
  t.equal(await v.isAuthority('0x0000000000000000000000000000000000000000'), false)
  // the raw storage in the state trie is the layout the source documents
  t.same(await vm.storageAt(AUTHORITY_SET_ADDRESS, word(0n)), word(3n))
  t.same(await vm.storageAt(AUTHORITY_SET_ADDRESS, elementSlot(0)), padded(sortedHex([a, b, c])[0]! as Hex))
})

t.test('an empty authority set answers empty', async (t) => {
  const v = await views(await createContractVM([], []))
  t.equal(v.count, 0n)
  t.same(v.authorities, [])
  t.equal(await v.isAuthority(a.hex), false)
})

t.test('authoritySetStorageUpdate turns set A into exactly set B', async (t) => {
  const A = [a, b, c]
  const B = [d, b]
  const vm = await createContractVM(A.map((x) => x.address), [])
  const update = authoritySetStorageUpdate(A.map((x) => x.address), B.map((x) => x.address))
  await vm.writeStorage(AUTHORITY_SET_ADDRESS, update)

  const v = await views(vm)
  t.equal(v.count, 2n)
  t.same(v.authorities, sortedHex(B))
  for (const x of B) t.equal(await v.isAuthority(x.hex), true, `${x.hex} (in B) is an authority`)
  for (const x of [a, c, stranger]) t.equal(await v.isAuthority(x.hex), false, `${x.hex} (not in B) is not`)

  const bSlots = new Map(authoritySetStorage(B.map((x) => x.address)).map(([k, v]) => [bytesToHex(k), v]))
  for (const [slot] of authoritySetStorage(A.map((x) => x.address))) {
    const key = bytesToHex(slot)
    if (!bSlots.has(key)) t.same(await vm.storageAt(AUTHORITY_SET_ADDRESS, slot), ZERO, `slot ${key} of A not in B is zero`)
  }
  for (const [slot, value] of bSlots) t.same(await vm.storageAt(AUTHORITY_SET_ADDRESS, hexToBytes(slot as Hex)), value, `slot ${slot} holds B's value`)
  for (const [, value] of update) t.equal(value.length, 32, 'every write (including clears) is a 32-byte word')
})

t.test('authoritySetStorageUpdate edge cases', async (t) => {
  const A = [a.address, b.address]
  t.same(authoritySetStorageUpdate(A, [b.address, a.address]), [], 'same set in another order: no writes')
  t.same(
    authoritySetStorageUpdate([], A).map(([k, v]) => [bytesToHex(k), bytesToHex(v)]),
    authoritySetStorage(A).map(([k, v]) => [bytesToHex(k), bytesToHex(v)]),
    'from empty: the full storage',
  )
  const clear = authoritySetStorageUpdate(A, [])
  t.equal(clear.length, authoritySetStorage(A).length)
  t.ok(clear.every(([, v]) => v.every((x) => x === 0)), 'to empty: every slot cleared')

  const vm = await createContractVM(A, [])
  await vm.writeStorage(AUTHORITY_SET_ADDRESS, clear)
  const v = await views(vm)
  t.equal(v.count, 0n)
  t.same(v.authorities, [])
  t.equal(await v.isAuthority(a.hex), false)
})

t.test('bad authority lists are refused with a coded error', async (t) => {
  const short = new Uint8Array(19)
  for (const fn of [() => authoritySetStorage([a.address, short]), () => authoritySetStorageUpdate([short], []), () => authoritySetStorageUpdate([], [short]), () => predeployAlloc([short])]) {
    t.throws(fn, { name: 'ContractsError', code: ContractsErrorCode.INVALID_AUTHORITY, message: /authority must be a 20-byte address, got 19 bytes/ })
  }
  for (const fn of [() => authoritySetStorage([a.address, b.address, a.address]), () => authoritySetStorageUpdate([], [b.address, b.address]), () => predeployAlloc([c.address, c.address])]) {
    t.throws(fn, { code: ContractsErrorCode.DUPLICATE_AUTHORITY, message: /is listed twice: pass each signer once/ })
  }
  const err = (() => {
    try {
      authoritySetStorage([a.address, a.address])
    } catch (e) {
      return e
    }
    return undefined
  })()
  t.ok(err instanceof ContractsError, 'a ContractsError instance')
})

t.test('predeployAlloc holds the system contracts at their fixed lowercase addresses', async (t) => {
  const alloc = predeployAlloc([a.address])
  t.same([...alloc.keys()].sort(), [AUTHORITY_SET_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS])
  for (const k of alloc.keys()) t.equal(k, k.toLowerCase())
  t.equal(bytesToHex(alloc.get(AUTHORITY_SET_ADDRESS)!.code), authoritySetDeployedBytecode)
  t.equal(bytesToHex(alloc.get(REGISTRAR_ADDRESS)!.code), registrarDeployedBytecode)
  t.same(alloc.get(AUTHORITY_SET_ADDRESS)!.storage, authoritySetStorage([a.address]))
  t.same(alloc.get(REGISTRAR_ADDRESS)!.storage, [])
  t.equal(bytesToHex(alloc.get(RELATIONSHIPS_ADDRESS)!.code), relationshipsDeployedBytecode)
  t.same(alloc.get(RELATIONSHIPS_ADDRESS)!.storage, [])
  // the implementations relationship and Summary clones forward to: code only, nothing to initialise
  t.equal(bytesToHex(alloc.get(PPR_IMPLEMENTATION_ADDRESS)!.code), patientProviderRelationshipDeployedBytecode)
  t.equal(bytesToHex(alloc.get(SUMMARY_IMPLEMENTATION_ADDRESS)!.code), summaryDeployedBytecode)
  t.same([alloc.get(PPR_IMPLEMENTATION_ADDRESS)!.storage, alloc.get(SUMMARY_IMPLEMENTATION_ADDRESS)!.storage], [[], []])
  // "MedRec" in ASCII, then the index: far from precompiles
  t.equal(Buffer.from(AUTHORITY_SET_ADDRESS.slice(2, 14), 'hex').toString(), 'MedRec')
})

t.test('AuthoritySet has no way for a transaction to write it', async (t) => {
  t.ok(authoritySetAbi.every((item) => item.type !== 'function' || item.stateMutability === 'view'), 'every ABI function is a view')
  t.notOk(runtimeOpcodes(authoritySetDeployedBytecode).includes(0x55), 'runtime code contains no SSTORE')

  const vm = await createContractVM([a.address, b.address], [a, stranger])
  const before = authoritySetStorage([a.address, b.address])
  const attempts: Hex[] = [
    '0x',
    '0xdeadbeef',
    toFunctionSelector('addAuthority(address)'),
    toFunctionSelector('setAuthorities(address[])'),
    toFunctionSelector('initialize(address[])'),
    `${toFunctionSelector('removeAuthority(address)')}${a.hex.slice(2).padStart(64, '0')}`,
  ]
  for (const data of attempts) {
    for (const from of [a, stranger]) {
      const out = await vm.send(from, AUTHORITY_SET_ADDRESS, data)
      t.equal(out.ok, false, `${data} from ${from === a ? 'an authority' : 'a stranger'} reverts`)
      t.equal(out.error, 'revert')
    }
  }
  const paying = await vm.send(stranger, AUTHORITY_SET_ADDRESS, encodeCall(authoritySetAbi, 'count', []), 1n)
  t.equal(paying.ok, false, 'sending value to a view reverts')
  for (const [slot, value] of before) t.same(await vm.storageAt(AUTHORITY_SET_ADDRESS, slot), value, 'storage unchanged')
  t.equal((await views(vm)).count, 2n)
})
