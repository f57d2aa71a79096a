import t, { type Test } from 'tap'
import { startDevNode } from '../helpers/node-process.ts'
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
 * (dev-node/fixture.ts). The nodes run one after another too, each stopped before the next starts:
 * side by side on a busy machine, the trace and simulation time budgets (wall clock) met a node
 * starved by its siblings.
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

for (const { args, files } of NODES) {
  t.test(`a dev node with ${args.join(' ')}`, async (t: Test) => {
    const node = await startDevNode(t, args)
    // async: a subtest whose function returns nothing would wait for a t.end() no file calls.
    for (const [name, tests] of files) await t.test(name, async (t) => tests(t, node))
  })
}
