import t from 'tap'
import { AUTHORITY_SET_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS } from '../../contracts/addresses.ts'
import { genesisToJson, parseGenesis, type Genesis } from '../../node/genesis/index.ts'
import { poaOf } from '../helpers/chain.ts'

const A = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'
const A_CHECKSUM = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const B = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')

/** A genesis document as JSON, to be broken: the cases spread and replace nested fields freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- no type describes the broken shapes
type Doc = Record<string, any>

/** A valid document; each case below breaks one thing in a fresh copy. */
function base(): Doc {
  return {
    config: { chainId: 1337, consensus: 'poa', poa: { period: 2, epoch: 30000 } },
    gasLimit: '0x1c9c380',
    authorities: [A],
    alloc: { [B]: { balance: '1000' } },
  }
}

t.test('a minimal document gets the defaults and the predeploys', async (t) => {
  const g = parseGenesis(base())
  t.equal(g.chainId, 1337n)
  t.equal(g.consensus, 'poa')
  t.same(poaOf(g), { period: 2, epoch: 30000n })
  t.equal(g.gasLimit, 30_000_000n)
  t.equal(g.baseFeePerGas, 1_000_000_000n, 'base fee defaults to 1 gwei')
  t.equal(g.timestamp, 0n)
  t.same(g.vanity, new Uint8Array(32))
  t.same(g.authorities.map(hex), [A])
  t.same([...g.alloc.keys()], [AUTHORITY_SET_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS, B], 'sorted by address, predeploys merged')
  t.same(g.alloc.get(B), { balance: 1000n, nonce: 0n, code: undefined, storage: [] })
  const as = g.alloc.get(AUTHORITY_SET_ADDRESS)!
  t.equal(as.nonce, 1n)
  t.equal(as.balance, 0n)
  t.ok(as.code !== undefined && as.code.length > 100, 'AuthoritySet runtime code')
  // Slot 0 holds the authority count (1); some slot holds the padded authority address.
  const slots = new Map(as.storage.map(([k, v]) => [hex(k), hex(v)]))
  t.equal(slots.get('0x' + '00'.repeat(32)), '0x' + '00'.repeat(31) + '01')
  t.ok([...slots.values()].includes('0x' + '00'.repeat(12) + A.slice(2)), 'the authority is stored')
  t.ok(g.alloc.get(REGISTRAR_ADDRESS)!.code!.length > 100, 'Registrar runtime code')

  const noEpoch = base()
  delete noEpoch.config.poa.epoch
  t.equal(poaOf(parseGenesis(noEpoch)).epoch, 30000n, 'epoch defaults to 30000')
  const noAlloc = base()
  delete noAlloc.alloc
  t.same([...parseGenesis(noAlloc).alloc.keys()], [AUTHORITY_SET_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS])
})

t.test('accepted spellings', async (t) => {
  const j = base()
  j.config.chainId = '0x539'
  j.gasLimit = '30000000'
  j.baseFeePerGas = '0x0'
  j.timestamp = 1700000000
  j.vanity = '0x6d6564726563'
  j.authorities = [A_CHECKSUM, B.toUpperCase().replace('0X', '0x')]
  j.alloc = {
    [A_CHECKSUM.slice(2)]: { balance: '0xDE0B6B3A7640000', nonce: '7' }, // geth-style key without 0x
    [B]: { code: '0x6001', storage: { '0x01': '0x2a', ['0x' + 'ff'.repeat(32)]: '0x' + '00'.repeat(32) } },
  }
  j.predeploys = false
  const g = parseGenesis(j)
  t.equal(g.chainId, 1337n)
  t.equal(g.gasLimit, 30_000_000n)
  t.equal(g.baseFeePerGas, 0n)
  t.equal(g.timestamp, 1_700_000_000n)
  t.equal(hex(g.vanity), '0x6d6564726563' + '00'.repeat(26), 'vanity right-padded to 32 bytes')
  t.same(g.authorities.map(hex), [A, B], 'file order kept')
  t.same([...g.alloc.keys()], [B, A], 'lowercased, sorted, no predeploys')
  t.same(g.alloc.get(A), { balance: 10n ** 18n, nonce: 7n, code: undefined, storage: [] })
  const b = g.alloc.get(B)!
  t.same(b.code, Uint8Array.from([0x60, 0x01]))
  t.same(
    b.storage.map(([k, v]) => [hex(k), hex(v)]),
    [
      ['0x' + '00'.repeat(31) + '01', '0x' + '00'.repeat(31) + '2a'],
      ['0x' + 'ff'.repeat(32), '0x' + '00'.repeat(32)],
    ],
    'slots and values left-padded to 32 bytes',
  )
})

t.test('every validation error names its JSON path', async (t) => {
  const big = (1n << 63n).toString()
  const cases: Array<[string, (j: Doc) => unknown, string | RegExp]> = [
    ['not an object', () => [1], 'genesis: must be an object (the genesis document), got [1]'],
    ['null', () => null, 'genesis: must be an object (the genesis document), got null'],
    ['unknown top-level key', (j) => ({ ...j, gaslimit: '0x1' }), /^genesis\.gaslimit: unknown field: did you mean "gasLimit"\? \(allowed: config, gasLimit, baseFeePerGas, timestamp, difficulty, vanity, authorities, alloc, predeploys\)$/],
    ['unknown key without a near match', (j) => ({ ...j, sealers: [] }), 'genesis.sealers: unknown field: (allowed: config, gasLimit, baseFeePerGas, timestamp, difficulty, vanity, authorities, alloc, predeploys)'],
    ['difficulty on a poa chain', (j) => ({ ...j, difficulty: '0x1' }), 'genesis.difficulty: is only for "pow" chains: a poa genesis block has difficulty 1; remove it'],
    ['missing config', (j) => ({ ...j, config: undefined }), 'genesis.config: is required: an object (chainId, consensus, and its section poa or pow)'],
    ['unknown config key', (j) => ({ ...j, config: { ...j.config, chainID: 5 } }), /^genesis\.config\.chainID: unknown field: did you mean "chainId"\?/],
    ['chainId zero', (j) => ({ ...j, config: { ...j.config, chainId: 0 } }), 'genesis.config.chainId: must be between 1 and 9007199254740991 (the EIP-155 chain id, a positive integer), got 0'],
    ['chainId negative', (j) => ({ ...j, config: { ...j.config, chainId: -5 } }), 'genesis.config.chainId: must be between 1 and 9007199254740991 (the EIP-155 chain id, a positive integer), got -5'],
    ['chainId fraction', (j) => ({ ...j, config: { ...j.config, chainId: 1.5 } }), /^genesis\.config\.chainId: must be a hex .* got 1\.5$/],
    ['chainId missing', (j) => ({ ...j, config: { ...j.config, chainId: undefined } }), 'genesis.config.chainId: is required (the EIP-155 chain id, a positive integer, a hex "0x..." or decimal string)'],
    ['consensus pos', (j) => ({ ...j, config: { ...j.config, consensus: 'pos' } }), 'genesis.config.consensus: must be "poa" (proof of authority, EIP-225) or "pow" (proof of work), got "pos"'],
    ['consensus missing', (j) => ({ ...j, config: { ...j.config, consensus: undefined } }), /^genesis\.config\.consensus: must be "poa" .* got nothing$/],
    ['pow without its section', (j) => ({ ...j, config: { chainId: 1, consensus: 'pow', poa: { period: 1 } } }), 'genesis.config.poa: is for consensus "poa" but config.consensus is "pow": remove it'],
    ['pow section missing', (j) => ({ ...j, config: { chainId: 1, consensus: 'pow' } }), 'genesis.config.pow: is required: an object (targetBlockTime, blockReward, minimumDifficulty)'],
    ['pow target zero', (j) => ({ ...j, config: { chainId: 1, consensus: 'pow', pow: { targetBlockTime: 0 } } }), 'genesis.config.pow.targetBlockTime: must be a positive integer (seconds between blocks the difficulty aims for), got 0'],
    ['pow unknown key', (j) => ({ ...j, config: { chainId: 1, consensus: 'pow', pow: { targetBlockTime: 2, reward: '1' } } }), /^genesis\.config\.pow\.reward: unknown field/],
    ['pow difficulty below the minimum', (j) => ({ ...j, difficulty: '0x10', config: { chainId: 1, consensus: 'pow', pow: { targetBlockTime: 2, minimumDifficulty: '0x100' } } }), 'genesis.difficulty: must be between 256 and 115792089237316195423570985008687907853269984665640564039457584007913129639935 (where proof of work starts), got 16'],
    ['poa missing', (j) => ({ ...j, config: { ...j.config, poa: undefined } }), 'genesis.config.poa: is required: an object (period, epoch)'],
    ['unknown poa key', (j) => ({ ...j, config: { ...j.config, poa: { ...j.config.poa, perio: 1 } } }), /^genesis\.config\.poa\.perio: unknown field: did you mean "period"\?/],
    ['period negative', (j) => ({ ...j, config: { ...j.config, poa: { period: -1 } } }), 'genesis.config.poa.period: must be a non-negative integer (seconds between blocks), got -1'],
    ['period string', (j) => ({ ...j, config: { ...j.config, poa: { period: '2' } } }), 'genesis.config.poa.period: must be a non-negative integer (seconds between blocks), got "2"'],
    ['period missing', (j) => ({ ...j, config: { ...j.config, poa: { epoch: 10 } } }), 'genesis.config.poa.period: is required: a non-negative integer (seconds between blocks)'],
    ['epoch zero', (j) => ({ ...j, config: { ...j.config, poa: { period: 1, epoch: 0 } } }), 'genesis.config.poa.epoch: must be a positive integer (blocks between checkpoints that reset votes), got 0'],
    ['gasLimit missing', (j) => ({ ...j, gasLimit: undefined }), 'genesis.gasLimit: is required (the genesis block gas limit, a hex "0x..." or decimal string)'],
    ['gasLimit too low', (j) => ({ ...j, gasLimit: '0x1387' }), 'genesis.gasLimit: must be between 5000 and 9223372036854775807 (the genesis block gas limit), got 4999'],
    ['gasLimit 2^63', (j) => ({ ...j, gasLimit: big }), `genesis.gasLimit: must be between 5000 and 9223372036854775807 (the genesis block gas limit), got ${big}`],
    ['gasLimit not a number', (j) => ({ ...j, gasLimit: '0xzz' }), 'genesis.gasLimit: must be a hex "0x..." or decimal integer string (the genesis block gas limit), got "0xzz"'],
    ['baseFee negative', (j) => ({ ...j, baseFeePerGas: '-1' }), /^genesis\.baseFeePerGas: must be a hex .*\(EIP-1559 base fee in wei\), got "-1"$/],
    ['timestamp 2^64', (j) => ({ ...j, timestamp: '0x10000000000000000' }), /^genesis\.timestamp: must be between 0 and 18446744073709551615 \(unix seconds\), got 18446744073709551616$/],
    ['vanity too long', (j) => ({ ...j, vanity: '0x' + '11'.repeat(33) }), 'genesis.vanity: must be at most 32 bytes (extraData vanity), got 33'],
    ['vanity odd hex', (j) => ({ ...j, vanity: '0x123' }), 'genesis.vanity: must be 0x-prefixed hex with an even number of digits (extraData vanity), got "0x123"'],
    ['no authorities', (j) => ({ ...j, authorities: [] }), 'genesis.authorities: must be a non-empty array of addresses (the initial sealers), got []'],
    ['authorities missing', (j) => ({ ...j, authorities: undefined }), 'genesis.authorities: must be a non-empty array of addresses (the initial sealers), got nothing'],
    ['bad authority', (j) => ({ ...j, authorities: [A, '0x1234'] }), 'genesis.authorities[1]: must be a 20-byte address, 0x followed by 40 hex digits (an initial sealer), got "0x1234"'],
    ['authority without 0x', (j) => ({ ...j, authorities: [A.slice(2)] }), /^genesis\.authorities\[0\]: must be a 20-byte address/],
    ['authority bad checksum', (j) => ({ ...j, authorities: ['0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266'] }), `genesis.authorities[0]: invalid address 0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266: EIP-55 checksum mismatch (the correctly checksummed form is ${A_CHECKSUM}); check the address for a typo, or write it all lowercase to skip the check`],
    ['duplicate authority', (j) => ({ ...j, authorities: [A, B, A_CHECKSUM] }), `genesis.authorities[2]: ${A} is listed twice: list each sealer once`],
    ['alloc not an object', (j) => ({ ...j, alloc: [] }), 'genesis.alloc: must be an object (address => account), got []'],
    ['bad alloc key', (j) => ({ ...j, alloc: { '0x12': {} } }), 'genesis.alloc.0x12: must be a 20-byte address, 0x followed by 40 hex digits (alloc keys are account addresses, 0x optional), got "0x12"'],
    ['alloc key bad checksum', (j) => ({ ...j, alloc: { '0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266': {} } }), /^genesis\.alloc\.0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266: invalid address .*EIP-55 checksum mismatch/],
    ['duplicate alloc', (j) => ({ ...j, alloc: { [B]: {}, [B.toUpperCase().replace('0X', '0x')]: {} } }), `genesis.alloc.${B.toUpperCase().replace('0X', '0x')}: ${B} appears twice (addresses are case-insensitive): merge the entries`],
    ['account not an object', (j) => ({ ...j, alloc: { [B]: '100' } }), `genesis.alloc.${B}: must be an object (an account: balance, nonce, code, storage), got "100"`],
    ['unknown account key', (j) => ({ ...j, alloc: { [B]: { balanse: '1' } } }), new RegExp(`^genesis\\.alloc\\.${B}\\.balanse: unknown field: did you mean "balance"\\? \\(allowed: balance, nonce, code, storage\\)$`)],
    ['bad balance', (j) => ({ ...j, alloc: { [B]: { balance: '1e18' } } }), `genesis.alloc.${B}.balance: must be a hex "0x..." or decimal integer string (balance in wei), got "1e18"`],
    ['balance 2^256', (j) => ({ ...j, alloc: { [B]: { balance: '0x1' + '0'.repeat(64) } } }), new RegExp(`^genesis\\.alloc\\.${B}\\.balance: must be between 0 and \\d+ \\(balance in wei\\), got \\d+$`)],
    ['nonce 2^64', (j) => ({ ...j, alloc: { [B]: { nonce: '18446744073709551616' } } }), `genesis.alloc.${B}.nonce: must be between 0 and 18446744073709551615 (account nonce), got 18446744073709551616`],
    ['code not hex', (j) => ({ ...j, alloc: { [B]: { code: '6001' } } }), `genesis.alloc.${B}.code: must be 0x-prefixed hex with an even number of digits (runtime bytecode), got "6001"`],
    ['storage not an object', (j) => ({ ...j, alloc: { [B]: { storage: ['0x01'] } } }), `genesis.alloc.${B}.storage: must be an object (storage slot => value, both hex), got ["0x01"]`],
    ['storage key too long', (j) => ({ ...j, alloc: { [B]: { storage: { ['0x' + '11'.repeat(33)]: '0x01' } } } }), `genesis.alloc.${B}.storage.0x${'11'.repeat(33)}: must be at most 32 bytes (the key is a storage slot of at most 32 bytes), got 33`],
    ['storage key not hex', (j) => ({ ...j, alloc: { [B]: { storage: { slot0: '0x01' } } } }), new RegExp(`^genesis\\.alloc\\.${B}\\.storage\\.slot0: must be 0x-prefixed hex`)],
    ['storage value too long', (j) => ({ ...j, alloc: { [B]: { storage: { '0x01': '0x' + '22'.repeat(33) } } } }), `genesis.alloc.${B}.storage.0x01: must be at most 32 bytes (a storage value of at most 32 bytes), got 33`],
    ['storage value not hex', (j) => ({ ...j, alloc: { [B]: { storage: { '0x01': 5 } } } }), new RegExp(`^genesis\\.alloc\\.${B}\\.storage\\.0x01: must be 0x-prefixed hex .*got 5$`)],
    ['storage slot twice', (j) => ({ ...j, alloc: { [B]: { storage: { '0x01': '0x01', ['0x' + '00'.repeat(31) + '01']: '0x02' } } } }), new RegExp(`^genesis\\.alloc\\.${B}\\.storage\\.0x0{62}01: names a slot that is already set`)],
    ['predeploys not boolean', (j) => ({ ...j, predeploys: 'yes' }), 'genesis.predeploys: must be true or false, got "yes"'],
  ]
  for (const [name, mutate, message] of cases) {
    t.throws(() => parseGenesis(mutate(base())), { name: 'GenesisError', code: 'GENESIS_INVALID_GENESIS', message }, name)
  }
  try {
    parseGenesis({ ...base(), config: { chainId: 1, consensus: 'poa', poa: { period: -1 } } })
  } catch (err) {
    t.same((err as { context?: unknown }).context, { path: 'genesis.config.poa.period' }, 'the path is in the context too')
  }
})

t.test('an alloc entry at a predeploy address is PREDEPLOY_CONFLICT', async (t) => {
  for (const [addr, name] of [[AUTHORITY_SET_ADDRESS, 'AuthoritySet'], [REGISTRAR_ADDRESS, 'Registrar'], [RELATIONSHIPS_ADDRESS, 'Relationships']] as const) {
    const j = base()
    j.alloc[addr] = { balance: '1' }
    t.throws(() => parseGenesis(j), {
      code: 'GENESIS_PREDEPLOY_CONFLICT',
      message: `genesis.alloc.${addr}: this address is reserved for the MedRec system contract ${name} (predeploys are on): remove the entry, or set "predeploys": false and provide the contract yourself`,
    })
    t.ok(parseGenesis({ ...j, predeploys: false }).alloc.get(addr), 'allowed with predeploys off')
  }
})

/** Genesis values compared field by field as hex (Maps and typed arrays printed plainly). */
function plain(g: Genesis): unknown {
  const h = (b: Uint8Array | undefined) => (b === undefined ? undefined : hex(b))
  return {
    ...g,
    vanity: h(g.vanity),
    authorities: g.authorities.map(h),
    alloc: [...g.alloc].map(([a, acc]) => [a, { ...acc, code: h(acc.code), storage: acc.storage.map(([k, v]) => [h(k), h(v)]) }]),
  }
}

t.test('genesisToJson round-trips through parseGenesis', async (t) => {
  const j = base()
  j.baseFeePerGas = '7'
  j.timestamp = '0x6553f100'
  j.vanity = '0xabcdef'
  j.authorities = [B, A]
  j.alloc[A] = { balance: '0x0', nonce: '0x5', code: '0x', storage: { '0x05': '0x0a' } }
  const g = parseGenesis(j)
  const out = genesisToJson(g)
  t.equal(out.predeploys, false, 'predeploys are written out, not merged again')
  t.ok(out.alloc[AUTHORITY_SET_ADDRESS]?.code, 'predeploy code is in alloc')
  t.same(out.authorities, [B, A])
  t.equal(out.vanity, '0xabcdef' + '00'.repeat(29))
  t.equal(out.config.chainId, 1337)
  t.same(out.config.poa, { period: 2, epoch: 30000 })
  const again = parseGenesis(JSON.parse(JSON.stringify(out)))
  t.same(plain(again), plain(g), 'equal Genesis')
  t.same(again, g, 'equal Genesis (deep)')
  t.equal(JSON.stringify(genesisToJson(again)), JSON.stringify(out), 'stable JSON')

  // Without predeploys too.
  const off = parseGenesis({ ...base(), predeploys: false })
  t.same(plain(parseGenesis(genesisToJson(off))), plain(off))
})

t.test('a proof-of-work genesis: defaults, authorities optional, round trip', async (t) => {
  const j = { config: { chainId: 4343, consensus: 'pow', pow: { targetBlockTime: 2 } }, gasLimit: '0x1c9c380', alloc: { [A]: { balance: '0x1' } } }
  const g = parseGenesis(j)
  t.equal(g.consensus, 'pow')
  if (g.consensus !== 'pow') return
  t.same(g.pow, { targetBlockTime: 2, blockReward: 2n * 10n ** 18n, minimumDifficulty: 1000n }, 'reward 2 ether and minimum difficulty 1000 by default')
  t.equal(g.difficulty, 100_000n, 'starting difficulty 100000 by default')
  t.same(g.authorities, [], 'no authorities needed: nobody seals by authority')
  const custom = parseGenesis({ ...j, difficulty: '0x400', authorities: [B], config: { ...j.config, pow: { targetBlockTime: 5, blockReward: '0', minimumDifficulty: '16' } } })
  t.equal(custom.difficulty, 1024n)
  t.same(custom.consensus === 'pow' && custom.pow, { targetBlockTime: 5, blockReward: 0n, minimumDifficulty: 16n })
  const again = parseGenesis(JSON.parse(JSON.stringify(genesisToJson(custom))))
  t.same(again, custom, 'genesisToJson round-trips a pow genesis')
  t.throws(() => parseGenesis({ ...j, authorities: 'x' }), { message: /^genesis\.authorities: must be an array of addresses \(the certified providers; may be empty\)/ })
})
