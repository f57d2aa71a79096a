import t from 'tap'
import { AUTHORITY_SET_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS } from '../../contracts/addresses.ts'
import { authoritySetStorage } from '../../contracts/predeploys.ts'
import { DEV_MNEMONIC, deriveKey, toChecksumAddress } from '../../node/keys/index.ts'
import {
  DEV_CHAIN_ID, DEV_GAS_LIMIT, createDevGenesis, devAccounts, genesisToJson, newGenesis, parseGenesis,
} from '../../node/genesis/index.ts'
import { poaOf } from '../helpers/chain.ts'

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')
const ETH = 10n ** 18n
const DEV_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
  '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65',
  '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc',
  '0x976EA74026E726554dB657fA54763abd0C3a0aa9',
  '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955',
  '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f',
  '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720',
]

t.test('dev accounts are the well-known anvil/hardhat accounts', async (t) => {
  const accs = devAccounts()
  t.equal(accs.length, 10)
  t.same(accs.map((a) => toChecksumAddress(a.address)), DEV_ADDRESSES)
  t.same(accs[3]!.privateKey, deriveKey(DEV_MNEMONIC, 3).privateKey)
  t.equal(devAccounts(2).length, 2)
  t.same(devAccounts(0), [])
  t.throws(() => devAccounts(-1), { code: 'GENESIS_INVALID_GENESIS', message: 'dev accounts: count must be a non-negative integer, got -1' })
})

t.test('the dev genesis', async (t) => {
  const g = createDevGenesis()
  t.equal(g.chainId, DEV_CHAIN_ID)
  t.equal(DEV_CHAIN_ID, 1337n)
  t.equal(g.consensus, 'poa')
  t.same(poaOf(g), { period: 2, epoch: 30000n })
  t.equal(g.gasLimit, DEV_GAS_LIMIT)
  t.equal(DEV_GAS_LIMIT, 300_000_000n)
  t.equal(g.baseFeePerGas, 1_000_000_000n)
  t.equal(g.timestamp, 0n, 'fixed timestamp: a stable genesis hash')
  t.same(g.vanity, new Uint8Array(32))
  t.same(g.authorities.map(toChecksumAddress), ['0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'])
  for (const a of DEV_ADDRESSES) t.same(g.alloc.get(a.toLowerCase()), { balance: 10_000n * ETH, nonce: 0n, code: undefined, storage: [] }, `${a} holds 10000 ETH`)
  t.equal(g.alloc.size, 15, '10 accounts, 3 system contracts and the 2 implementations relationships and Summaries clone')
  const as = g.alloc.get(AUTHORITY_SET_ADDRESS)
  t.ok(as?.code !== undefined && as.code.length > 0, 'AuthoritySet is predeployed')
  t.same(as?.storage.map(([k, v]) => [hex(k), hex(v)]), authoritySetStorage([g.authorities[0]!]).map(([k, v]) => [hex(k), hex(v)]), 'holding the dev authority')
  t.ok((g.alloc.get(REGISTRAR_ADDRESS)?.code?.length ?? 0) > 0, 'Registrar is predeployed')
  t.ok((g.alloc.get(RELATIONSHIPS_ADDRESS)?.code?.length ?? 0) > 0, 'Relationships is predeployed')
  t.ok((g.alloc.get(PPR_IMPLEMENTATION_ADDRESS)?.code?.length ?? 0) > 0, 'the PPR implementation is predeployed')
  t.ok((g.alloc.get(SUMMARY_IMPLEMENTATION_ADDRESS)?.code?.length ?? 0) > 0, 'the Summary implementation is predeployed')

  const small = createDevGenesis({ period: 0, accounts: 3 })
  t.equal(poaOf(small).period, 0)
  t.equal(small.alloc.size, 8, '3 accounts, 5 predeploys')
  t.throws(() => createDevGenesis({ accounts: 0 }), { code: 'GENESIS_INVALID_GENESIS', message: 'dev genesis: accounts must be an integer >= 1 (account 0 is the sealer), got 0' })
  t.throws(() => createDevGenesis({ period: -1 }), { code: 'GENESIS_INVALID_GENESIS', message: 'genesis.config.poa.period: must be a non-negative integer (seconds between blocks), got -1' })
})

t.test('the dev genesis is deterministic', async (t) => {
  const a = JSON.stringify(genesisToJson(createDevGenesis()))
  const b = JSON.stringify(genesisToJson(createDevGenesis()))
  t.equal(a, b)
  t.same(parseGenesis(JSON.parse(a)), createDevGenesis(), 'and round-trips')
})

t.test('newGenesis', async (t) => {
  const [x, y] = devAccounts(2)
  const before = BigInt(Math.floor(Date.now() / 1000))
  const g = newGenesis({ chainId: 99n, authorities: [x!.address, y!.address], period: 5, alloc: [[y!.address, 123n]] })
  t.equal(g.chainId, 99n)
  t.same(poaOf(g), { period: 5, epoch: 30000n }, 'epoch defaults to 30000')
  t.equal(g.gasLimit, 30_000_000n, 'gas limit defaults to 30M')
  t.equal(g.baseFeePerGas, 1_000_000_000n, 'base fee defaults to 1 gwei')
  t.ok(g.timestamp >= before && g.timestamp <= BigInt(Math.floor(Date.now() / 1000)), 'timestamp defaults to now')
  t.same(g.authorities, [x!.address, y!.address])
  t.equal(g.alloc.get(hex(y!.address))?.balance, 123n)
  t.ok(g.alloc.has(AUTHORITY_SET_ADDRESS))

  const h = newGenesis({ chainId: 5n, authorities: [x!.address], period: 0, epoch: 10n, gasLimit: 8_000_000n, baseFeePerGas: 7n, timestamp: 42n })
  t.match(h, { poa: { period: 0, epoch: 10n }, gasLimit: 8_000_000n, baseFeePerGas: 7n, timestamp: 42n })

  t.throws(() => newGenesis({ chainId: 0n, authorities: [x!.address], period: 1 }), { code: 'GENESIS_INVALID_GENESIS', message: /^genesis\.config\.chainId: must be between 1 and/ })
  t.throws(() => newGenesis({ chainId: 1n << 60n, authorities: [x!.address], period: 1 }), { code: 'GENESIS_INVALID_GENESIS', message: /^genesis\.config\.chainId: .*got 1152921504606846976$/ })
  t.throws(() => newGenesis({ chainId: 1n, authorities: [], period: 1 }), { code: 'GENESIS_INVALID_GENESIS', message: /^genesis\.authorities: must be a non-empty array/ })
  t.throws(() => newGenesis({ chainId: 1n, authorities: [x!.address], period: 1, gasLimit: 100n }), { code: 'GENESIS_INVALID_GENESIS', message: /^genesis\.gasLimit: must be between 5000/ })
  t.throws(() => newGenesis({ chainId: 1n, authorities: [x!.address], period: 1, alloc: [[y!.address, 1n], [y!.address, 2n]] }), {
    code: 'GENESIS_INVALID_GENESIS',
    message: `genesis.alloc.${hex(y!.address)}: address given twice: pass each account once`,
  })
  t.throws(() => newGenesis({ chainId: 1n, authorities: [x!.address], period: 1, alloc: [[new Uint8Array(19), 1n]] }), {
    code: 'GENESIS_INVALID_GENESIS',
    message: 'genesis.alloc: every address must be 20 bytes, got 19',
  })
  t.throws(() => newGenesis({ chainId: 1n, authorities: [x!.address], period: 1, alloc: [[y!.address, -1n]] }), { code: 'GENESIS_INVALID_GENESIS', message: /balance.*got "-0x1"/ })
  t.throws(() => newGenesis({ chainId: 1n, authorities: [x!.address], period: 1, alloc: [[Buffer.from(AUTHORITY_SET_ADDRESS.slice(2), 'hex'), 1n]] }), { code: 'GENESIS_PREDEPLOY_CONFLICT' })
})
