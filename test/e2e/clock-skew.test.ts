import t from 'tap'
import { FAKETIME_MISSING, libfaketime, secondsAhead } from '../../bench/harness/faketime.ts'
import { parseExposition, sampleValue } from '../../bench/harness/prometheus.ts'
import { createTestNetwork, type TestNetwork } from '../helpers/network.ts'
import { plainNode } from '../helpers/plain-node.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'

/**
 * Clock skew (issue 19): one of three authorities runs 10 s ahead under Debian's faketime. It
 * learns its offset from the others' blocks, says so (log and metric) and stops sealing; and
 * its early block is refused rather than waited on, so the block rate of the two honest
 * authorities holds.
 */

t.setTimeout(180_000)

const SKEWED = 2
const LIB = libfaketime()
/** Runs the member's Node 10 s ahead, and nothing else. */
const tenSecondsAhead = (nodeArgs: string[]): [string, string[]] => secondsAhead(LIB!, 10, plainNode(nodeArgs))

interface BlockJson {
  number: string
  timestamp: string
}

const url = (net: TestNetwork, i: number) => net.members[i]!.node!.url
const headNumber = async (net: TestNetwork, i: number) => Number(BigInt(await rpc<string>(url(net, i), 'eth_blockNumber')))
const log = (net: TestNetwork, i: number) => net.members[i]!.node!.output()
const metricsUrl = (net: TestNetwork, i: number) => /Prometheus metrics listening.*?url=(\S+)/.exec(log(net, i))![1]!

async function metrics(net: TestNetwork, i: number) {
  const res = await fetch(metricsUrl(net, i))
  return parseExposition(await res.text())
}

/** The first number after `key=` in the first log line matching `line`, once there is one. */
function logged(net: TestNetwork, i: number, line: RegExp, key: string): Promise<number> {
  return waitFor(
    async () => {
      const hit = log(net, i)
        .split('\n')
        .find((l) => line.test(l))
      if (hit === undefined) return undefined
      const m = new RegExp(`${key}=([+-]?[0-9.]+)s`).exec(hit)
      return m === null ? undefined : Number(m[1])
    },
    `member ${i} to log ${line}`,
    60_000,
  )
}

t.test('an authority 10 s ahead is warned about, refuses to seal, and the block rate holds', { skip: LIB === undefined ? FAKETIME_MISSING : false }, async (t) => {
  const net = await createTestNetwork(3, {
    period: 1,
    args: ['--metrics', '--metrics.port', '0'],
    placement: (i) => ({ p2pAddr: '127.0.0.1', launch: i === SKEWED ? tenSecondsAhead : undefined }),
  })
  t.teardown(() => net.close())
  const skewed = net.members[SKEWED]!.address

  // The skewed authority alone first: it seals block 1 stamped 10 s in the others' future.
  await net.start(SKEWED)
  await waitFor(async () => ((await headNumber(net, SKEWED)) >= 1 ? true : undefined), 'the skewed authority to seal block 1', 30_000)
  // Both honest authorities at once, so each fetches that block from it well before its time.
  await Promise.all([net.start(0), net.start(1)])

  // It measures itself against the two honest authorities' blocks.
  const own = await logged(net, SKEWED, /This node's clock is ahead of the network's: fix the system clock \(NTP\)/, 'offset')
  t.ok(own > 8.5 && own < 11.5, `the skewed node logs its offset: ${own}s`)
  // The refusal line carries its reason as one quoted value (no `key=` number to read), so wait for the line itself.
  await waitFor(async () => (/Not sealing: clock off.*fix the system clock \(NTP\)/.test(log(net, SKEWED)) ? true : undefined), 'the skewed authority to log its refusal to seal', 60_000).catch(() => undefined)
  t.match(log(net, SKEWED), /Not sealing: clock off/, 'it refuses to seal')
  const m = await metrics(net, SKEWED)
  const gauge = sampleValue(m, 'medrec_clock_offset_seconds')!
  t.ok(gauge > 8.5 && gauge < 11.5, `medrec_clock_offset_seconds ${gauge}`)
  t.equal(sampleValue(m, 'medrec_clock_sealing_refused'), 1, 'medrec_clock_sealing_refused 1')

  // Whether the honest ones also name it depends on whether they fetch its block 1 before that
  // block's time comes (within 10 s of its seal, node start-up included: not on a loaded machine);
  // test/node/clock.test.ts feeds the monitor real sealed headers for that.
  // Its estimate settles once it has its peers' blocks (the test used to reach this line a minute
  // later, after a wait that always timed out): polled, with the same bound.
  const honestOffset = await waitFor(async () => {
    const v = sampleValue(await metrics(net, 0), 'medrec_clock_offset_seconds')
    return v !== undefined && Math.abs(v) < 1 ? v : undefined
  }, 'the honest authority to measure its own clock as right', 60_000).catch(async () => sampleValue(await metrics(net, 0), 'medrec_clock_offset_seconds'))
  const honest = await metrics(net, 0)
  t.equal(sampleValue(honest, 'medrec_clock_sealing_refused'), 0, 'the honest authority keeps sealing')
  t.ok(honestOffset !== undefined && Math.abs(honestOffset) < 1, `and measures its own clock as right (${honestOffset})`)

  // The rate holds: the next 10 blocks come about once a period, none sealed by the skewed authority
  // and none stamped into the future it would have dragged the chain to.
  const h0 = await headNumber(net, 0)
  await waitFor(async () => ((await headNumber(net, 0)) >= h0 + 10 ? true : undefined), 'ten more blocks', 60_000)
  const blocks = await Promise.all(Array.from({ length: 11 }, (_, k) => rpc<BlockJson>(url(net, 0), 'eth_getBlockByNumber', [`0x${(h0 + k).toString(16)}`, false])))
  const times = blocks.map((b) => Number(BigInt(b.timestamp)))
  const gaps = times.slice(1).map((x, k) => x - times[k]!)
  t.ok(times[10]! - times[0]! <= 20, `10 blocks in ${times[10]! - times[0]!} s of chain time (period 1)`)
  t.ok(Math.max(...gaps) <= 4, `no stall: gaps ${gaps.join(',')}`)
  for (let k = 1; k <= 10; k++) {
    const sealer = await rpc<string>(url(net, 0), 'clique_getSigner', [`0x${(h0 + k).toString(16)}`])
    t.not(sealer.toLowerCase(), skewed, `block ${h0 + k} is not the skewed authority's`)
  }
  t.ok(times[10]! <= Math.floor(Date.now() / 1000) + 1, 'the chain is not stamped ahead of real time')
})
