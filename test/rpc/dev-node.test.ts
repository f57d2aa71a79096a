import t, { type Test } from 'tap'
import { startDevNode, type NodeProcess } from '../helpers/node-process.ts'
import callsGeth from './dev-node/calls-geth.ts'
import devAccounts from './dev-node/dev-accounts.ts'
import devSigning from './dev-node/dev-signing.ts'
import finality from './dev-node/finality.ts'
import { MAIN_ARGS, ODD_ARGS, TIMEOUT_ARGS, type NodeTests } from './dev-node/fixture.ts'
import getProof from './dev-node/get-proof.ts'
import gethMethods from './dev-node/geth-methods.ts'
import miner from './dev-node/miner.ts'
import osakaDev from './dev-node/osaka-dev.ts'
import pricelimit, { pricelimitFlag } from './dev-node/pricelimit.ts'
import rpcNode from './dev-node/rpc-node.ts'
import simulate, { simulateMainThread } from './dev-node/simulate.ts'
import subscriptionsGeth, { syncingHub } from './dev-node/subscriptions-geth.ts'
import trace from './dev-node/trace.ts'
import traceOverrides from './dev-node/trace-overrides.ts'

/**
 * The JSON-RPC tests that need a real --dev node, in one process on three nodes instead of one
 * process and one node per file (twelve files were in test/rpc/, two in test/e2e/): a node's start
 * costs ~2.4 CPU-s and a test process's ~1, more than most of these files take to run. Each file
 * of test/rpc/dev-node/ is a subtest of the node it runs on. On one node they run one after
 * another (miner_stop, the pool's contents), each sending from accounts no other sends from
 * (dev-node/fixture.ts). The nodes' files run one after another too, each node stopped when its
 * files end: side by side on a busy machine, the trace and simulation time budgets (wall clock)
 * met a node starved by its siblings. Only the second node's start-up overlaps the first node's files.
 *
 * One file: `npx tap test/rpc/dev-node.test.ts --grep='evmtimeout 2s' --grep='^simulate$'` (its node's
 * flags, then its name; a node none of whose files is picked still starts).
 */

/** Each node's files, in the order they run; pricelimit first on the main node, while its base fee is still far above the floor. */
const NODES: Array<{ args: string[]; files: Array<[string, NodeTests]> }> = [
  {
    args: MAIN_ARGS,
    files: [
      ['pricelimit', pricelimit],
      ['geth-methods', gethMethods],
      ['calls-geth', callsGeth],
      ['get-proof', getProof],
      ['dev-accounts', devAccounts],
      ['finality', finality],
      [
        'subscriptions-geth',
        (t, node) => {
          subscriptionsGeth(t, node)
          syncingHub(t)
        },
      ],
      ['dev-signing', devSigning],
      ['trace-overrides', traceOverrides],
      ['osaka-dev (was test/e2e/)', osakaDev],
      ['miner', miner],
    ],
  },
  { args: TIMEOUT_ARGS, files: [['trace', trace], ['simulate', simulate], ['rpc-node (was test/e2e/)', rpcNode]] },
  { args: ODD_ARGS, files: [['pricelimit --txpool.pricelimit', pricelimitFlag], ['simulate --rpc.callworkers 0', simulateMainThread]] },
]

/**
 * The second node starts while the first node's files run (its start-up overlaps them instead of
 * following them; the main node's files have no wall-clock budgets). The third starts after the
 * second's files end, as before: started early too, it idled next to the second's trace and
 * simulation budgets, which then failed twice at a load of 18-20 (whether from it or from the load
 * alone was not settled). Only one node's files run at a time, and a node is stopped as its files
 * end; the file's own teardown stops whatever is left (a failed start, a node a grep skipped).
 */
const starts: Array<Promise<NodeProcess> | undefined> = NODES.map(() => undefined)
function startNode(i: number): Promise<NodeProcess> {
  const started = (starts[i] ??= startDevNode(t, NODES[i]!.args))
  // A start that fails is reported by the node's own test, when it awaits it.
  started.catch(() => {})
  return started
}

for (const [i, { args, files }] of NODES.entries()) {
  t.test(`a dev node with ${args.join(' ')}`, async (t: Test) => {
    const node = await startNode(i)
    if (i === 0 && NODES.length > 1) void startNode(1)
    // async: a subtest whose function returns nothing would wait for a t.end() no file calls.
    for (const [name, tests] of files) await t.test(name, async (t) => tests(t, node))
    await node.stop()
  })
}
