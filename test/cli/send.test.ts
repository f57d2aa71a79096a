import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { rpc, startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { DEV0, DEV_MNEMONIC, medrec, medrecBatch, passwordFile, tempDir } from './run-cli.ts'

/**
 * `medrec send` against a real dev node: a keystore account (dev account 0, funded by the dev
 * genesis) pays a fresh address; the receipt is printed and the balance moves. The refusals:
 * a wrong password, an unfunded sender, an ambiguous keystore, a bad amount.
 */

const FRESH = '0x00000000000000000000000000000000000c0ffe'
const OTHER = '0x00000000000000000000000000000000000bee00'

let node: NodeProcess
const tmp = tempDir()
const datadir = join(tmp.path, 'dev')
const wallet = join(tmp.path, 'wallet')
const pw = passwordFile(tmp.path, 'send-pw')

t.before(async () => {
  // Dev account 0 in the node's keystore; the dev genesis funds it.
  const imported = await medrec(['account', 'import', '--datadir', datadir, '--mnemonic', DEV_MNEMONIC, '--password', pw, '--lightkdf'])
  if (imported.code !== 0) throw new Error(imported.stderr)
  node = await startNodeProcess(['--dev', '--dev.period', '0'], { datadir })
})
t.teardown(async () => {
  await node?.stop()
  tmp.remove()
})

t.test('sends ether from a keystore account and prints the receipt', async (t) => {
  const r = await medrec(['send', '--datadir', datadir, '--password', pw, '--to', FRESH, '--value', '1.5ether', '--rpc', node.url])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^transactionHash  0x[0-9a-f]{64}\nblockNumber      [1-9]\d*\nstatus           1 \(success\)\nfrom             0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n/)
  t.match(r.stdout, /value            1500000000000000000 wei\ngasUsed          21000\n$/)
  t.equal(r.stderr, '', 'nothing on stderr')
  t.equal(BigInt(await rpc<string>(node.url, 'eth_getBalance', [FRESH, 'latest'])), 1_500_000_000_000_000_000n)

  const j = await medrec(['send', '--datadir', datadir, '--password', pw, '--from', DEV0, '--to', FRESH, '--value', '250000', '--rpc', node.url, '--json'])
  t.equal(j.code, 0, j.stderr)
  const res = JSON.parse(j.stdout) as { hash: string; status: string; value: string; blockNumber: number; from: string }
  t.equal(res.status, 'success')
  t.equal(res.value, '250000', 'a bare number is wei')
  t.equal(res.from, DEV0)
  const receipt = await rpc<{ blockNumber: string }>(node.url, 'eth_getTransactionReceipt', [res.hash])
  t.equal(Number(BigInt(receipt.blockNumber)), res.blockNumber, 'the block printed is the receipt\'s')
  t.equal(BigInt(await rpc<string>(node.url, 'eth_getBalance', [FRESH, 'latest'])), 1_500_000_000_000_250_000n)
})

t.test('a funded account that is not in a keystore: --private-key-file; and a fresh one cannot pay', async (t) => {
  const key = join(tmp.path, 'dev1.key')
  // Dev account 1's well-known key (public: the standard development mnemonic).
  writeFileSync(key, '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n')
  const ok = await medrec(['send', '--private-key-file', key, '--to', OTHER, '--value', '1gwei', '--rpc', node.url, '--json'])
  t.equal(ok.code, 0, ok.stderr)
  t.equal(BigInt(await rpc<string>(node.url, 'eth_getBalance', [OTHER, 'latest'])), 1_000_000_000n)

  const fresh = await medrec(['account', 'new', '--datadir', wallet, '--password', pw, '--lightkdf'])
  t.equal(fresh.code, 0, fresh.stderr)
  const broke = await medrec(['send', '--datadir', wallet, '--password', pw, '--to', OTHER, '--value', '1ether', '--rpc', node.url])
  t.equal(broke.code, 1)
  t.match(broke.stderr, /insufficient funds/, 'the node\'s refusal, named')
})

t.test('refusals: wrong password, ambiguous keystore, bad flags', async (t) => {
  const wrong = await medrec(['send', '--datadir', datadir, '--password', passwordFile(tmp.path, 'nope', 'wrong.txt'), '--to', FRESH, '--value', '1', '--rpc', node.url])
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, /password/i)

  const two = join(tmp.path, 'two')
  for (const index of ['1', '2']) {
    const r = await medrec(['account', 'import', '--datadir', two, '--mnemonic', DEV_MNEMONIC, '--index', index, '--password', pw, '--lightkdf'])
    t.equal(r.code, 0, r.stderr)
  }
  const ambiguous = await medrec(['send', '--datadir', two, '--password', pw, '--to', FRESH, '--value', '1', '--rpc', node.url])
  t.equal(ambiguous.code, 2)
  t.match(ambiguous.stderr, /missing --from ADDRESS: .* holds 2 accounts \(0x70997970C51812dc3A010C7d01b50e0d17dc79C8, 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC\)/)

  const usage: Array<[string[], RegExp]> = [
    [['--datadir', datadir, '--value', '1'], /missing --to ADDRESS/],
    [['--datadir', datadir, '--to', FRESH], /missing --value AMOUNT/],
    [['--datadir', datadir, '--to', '0x12', '--value', '1'], /invalid value for --to/],
    [['--datadir', datadir, '--to', FRESH, '--value', '1 banana'], /invalid value for --value/],
    [['--to', FRESH, '--value', '1'], /pass --datadir DIR \(its keystore\) or --keystore DIR/],
    [['--datadir', datadir, '--keystore', wallet, '--to', FRESH, '--value', '1'], /not both/],
  ]
  // Usage errors end before any RPC call: batched in one process (medrecBatch).
  const results = await medrecBatch(usage.map(([args]) => ['send', ...args, '--rpc', node.url]))
  for (const [i, [args, message]] of usage.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message)
  }
})
