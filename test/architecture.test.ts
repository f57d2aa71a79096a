import t from 'tap'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ROOT } from './helpers/node-process.ts'

/**
 * The import rules of ARCHITECTURE.md, enforced: which product folder may import which, which
 * subsystem of node/ may import which and only through its public face, which folders may import
 * the ethereumjs execution packages, and no import cycles between modules.
 *
 * test/ is not checked: unit tests import a module's internals on purpose (that is what they
 * test), and no product folder may import test/ (bench/ included: its harness is what the e2e
 * helpers delegate to, never the other way round).
 */
const ALLOWED: Record<string, string[]> = {
  common: [],
  // 'evm' only for contracts/vm.ts, the system contracts in a standalone VM (tests, the gas
  // benchmark); contracts/index.ts does not export it, so what loads contracts/ loads no EVM.
  contracts: ['common', 'evm'],
  consensus: ['common'],
  evm: ['common'],
  p2p: ['common'],
  gatekeeper: ['common', 'contracts'],
  node: ['common', 'contracts', 'consensus', 'evm', 'p2p', 'gatekeeper', 'node'],
  // The benchmarks drive whole nodes; the CLI is the top and may reach the harness for `medrec bench`.
  bench: ['common', 'contracts', 'consensus', 'evm', 'p2p', 'gatekeeper', 'node'],
  cli: ['common', 'contracts', 'consensus', 'evm', 'p2p', 'gatekeeper', 'node', 'bench'],
}

/**
 * node/ is the composition root: `node.ts` (`startNode`) wires the subsystems below, each a folder
 * whose index.ts is its only public face, and may import all of them. Which subsystem may import
 * which (the folders of node/ not listed here do not exist, and a new one must be added):
 */
const NODE: Record<string, string[]> = {
  /** Addresses, mnemonics, keystores. */
  keys: [],
  /** Genesis files: parse, validate, build, the dev chain. */
  genesis: ['keys'],
  /** What `medrec start` resolves (config types, defaults) and NodeError: the base every subsystem may use. */
  config: ['genesis'],
  /** The transaction pool and sender recovery: imports nothing else of node/. */
  mempool: [],
  /** Chain store, import, build, block bytes, consensus snapshots. */
  chain: ['config', 'genesis'],
  /** Block production: the producer loop, sealing (miner_*), this node's clique votes. */
  producer: ['config', 'chain', 'mempool'],
  /** The p2p wiring (gossip in and out) and range sync. */
  sync: ['chain', 'mempool'],
  /** JSON-RPC: transport, access, the method tables over the other subsystems. */
  rpc: ['config', 'chain', 'mempool', 'producer', 'sync'],
  /** This node's clock against the sealers' (offset estimate, warnings, the refusal to seal). */
  clock: [],
  /** Prometheus metrics, read from the other subsystems at scrape time. */
  metrics: ['config', 'chain', 'mempool', 'producer', 'sync', 'clock'],
  /** The MedRec app's origin: static files, sign-in sessions, /rpc through node/rpc's dispatcher; fed its figures by node.ts. */
  ui: ['config', 'rpc'],
}
/** The composition's own files at node/'s top level. */
const NODE_ROOT = ['node.ts']
/**
 * Public faces beside index.ts. node/rpc/access.ts is the light face for JSON-RPC clients (the
 * CLI, the bench harness: tokens, namespaces, defaults) that loads no server and no EVM, so a CLI
 * call starts fast; index.ts re-exports it for the node. node/ui/signin.ts likewise: the UI's
 * sign-in codes for `medrec start` and `medrec ui signin`, without the UI server.
 */
const FACES: Record<string, string[]> = { rpc: ['access.ts'], ui: ['signin.ts'] }

/** Allowed folder edges that only these files may use. */
const ONLY_FROM: Record<string, string[]> = { 'contracts → evm': ['contracts/vm.ts'] }

const EXECUTION_PACKAGES = ['@ethereumjs/vm', '@ethereumjs/evm', '@ethereumjs/statemanager', '@ethereumjs/mpt']

/**
 * ui/ is the browser app (bundled by ui/build.ts, which alone runs in Node). It talks to the node
 * only over HTTP, so it may import nothing of node/, p2p/, evm/, consensus/ or the gatekeeper's
 * workings. Outside ui/ it may import: contracts/client/index.ts (the typed MedRec client, ABIs and
 * the query grammar: viem only, browser-safe; contracts/index.ts is not, its predeploys use Node's
 * Buffer), gatekeeper/bounty-csv.ts (the bounty dataset's CSV, pure, shared with the CLI),
 * gatekeeper/fetch-records.ts (a browser key's records: signs with request-digest.ts, opens with
 * ecies.ts, verifies with commitment.ts; all @noble, viem and contracts/client, no Node built-in
 * or Buffer: test/gatekeeper/browser-crypto.test.ts bundles them for the browser),
 * gatekeeper/fetch-audit.ts (a browser key's audit log: the same request path, checked by
 * audit-check.ts against the anchor on chain; bundled by the same test),
 * gatekeeper/relationship-view.ts (a relationship read from the chain through contracts/client only), and
 * gatekeeper/api.ts and gatekeeper/types.ts as `import type` only (the medrec_* operations' types:
 * erased from the bundle). Packages: only these browser ones.
 */
const UI_IMPORTS = ['contracts/client/index.ts', 'gatekeeper/bounty-csv.ts', 'gatekeeper/fetch-audit.ts', 'gatekeeper/fetch-records.ts', 'gatekeeper/relationship-view.ts']
const UI_TYPE_IMPORTS = ['gatekeeper/api.ts', 'gatekeeper/types.ts']
const UI_PACKAGES = ['preact', 'viem', '@noble/', '@scure/']
const UI_NODE_SIDE = ['ui/build.ts']

function uiViolation({ from, spec, target, typeOnly }: Edge): string | undefined {
  if (UI_NODE_SIDE.includes(from)) return undefined
  const what = `${from} imports ${spec}`
  if (!spec.startsWith('.')) {
    return UI_PACKAGES.some((p) => spec === p || spec.startsWith(p.endsWith('/') ? p : `${p}/`)) ? undefined : `${what}: the browser app may use only ${UI_PACKAGES.join(', ')} packages`
  }
  if (target.startsWith('ui/') || UI_IMPORTS.includes(target)) return undefined
  if (UI_TYPE_IMPORTS.includes(target)) return typeOnly === true ? undefined : `${what}: the browser app may import ${target} only with \`import type\``
  return `${what}: the browser app may import only ${[...UI_IMPORTS, ...UI_TYPE_IMPORTS.map((f) => `${f} (types)`)].join(', ')} outside ui/`
}

/** One import: the importing file and the target (a path from ROOT for a relative specifier, else the package). */
interface Edge {
  from: string
  spec: string
  target: string
  /** `import type` / `export type`: erased from the build. */
  typeOnly?: boolean
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'generated' || name === 'dist' ? [] : files(p)
    return p.endsWith('.ts') || p.endsWith('.tsx') ? [p] : []
  })
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s(type\s)?[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function edgesOf(file: string): Edge[] {
  const src = readFileSync(file, 'utf8')
  const from = relative(ROOT, file)
  return [...src.matchAll(IMPORT)].map((m) => {
    const spec = (m[2] ?? m[3])!
    return { from, spec, target: spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : spec, typeOnly: m[1] !== undefined }
  })
}

/** node/'s subsystem of a path (`chain` for node/chain/x.ts), `''` for the root's own files, undefined outside node/. */
function subsystemOf(path: string): string | undefined {
  const parts = path.split('/')
  if (parts[0] !== 'node') return undefined
  return parts.length > 2 ? parts[1]! : ''
}

/** Every rule broken by these imports, one line each. */
function violations(edges: Edge[]): string[] {
  const out: string[] = []
  for (const edge of edges) {
    const { from, spec, target } = edge
    const what = `${from} imports ${spec}`
    const fromFolder = from.split('/')[0]!
    if (fromFolder === 'ui') {
      const v = uiViolation(edge)
      if (v !== undefined) out.push(v)
      continue
    }
    if (!spec.startsWith('.')) {
      if (EXECUTION_PACKAGES.some((p) => spec === p || spec.startsWith(p + '/')) && fromFolder !== 'evm') out.push(`${what}: only evm/ may use the execution packages`)
      continue
    }
    const toFolder = target.split('/')[0]!
    if (toFolder !== fromFolder && !(ALLOWED[fromFolder] ?? []).includes(toFolder)) {
      out.push(`${what} (${fromFolder} → ${toFolder})`)
      continue
    }
    const only = ONLY_FROM[`${fromFolder} → ${toFolder}`]
    if (only !== undefined && !only.includes(from)) {
      out.push(`${what}: only ${only.join(', ')} may (${fromFolder} → ${toFolder})`)
      continue
    }
    const toSub = subsystemOf(target)
    if (toSub === undefined) continue
    const fromSub = subsystemOf(from)
    if (toSub === '') {
      // The root's files: node.ts is imported only from outside node/ (the CLI starts the node).
      if (fromSub !== undefined && fromSub !== '') out.push(`${what}: node/${fromSub}/ imports the composition root`)
      continue
    }
    if (fromSub === toSub) continue
    if (!(toSub in NODE)) {
      out.push(`${what}: node/${toSub}/ is not a subsystem the architecture test knows (add it to NODE)`)
      continue
    }
    const file = target.slice(`node/${toSub}/`.length)
    if (file !== 'index.ts' && !(FACES[toSub] ?? []).includes(file)) out.push(`${what}: reaches past node/${toSub}/index.ts`)
    if (fromSub !== undefined && fromSub !== '' && !(NODE[fromSub] ?? []).includes(toSub)) out.push(`${what} (node/${fromSub} → node/${toSub})`)
  }
  return out
}

const product = [...Object.keys(ALLOWED), 'ui'].flatMap((folder) => (existsSync(join(ROOT, folder)) ? files(join(ROOT, folder)) : []))

t.test('product folders import only in the allowed direction, node/ subsystems only through their faces', async (t) => {
  t.same(violations(product.flatMap(edgesOf)), [], 'no import against the module rules')
  t.ok(product.length > 20, `checked ${product.length} files`)
})

t.test('the rules catch what they forbid', async (t) => {
  const broken: Array<[string, string]> = [
    ['p2p/p2p.ts', '../node/node.ts'], // a lower folder importing node/
    ['node/mempool/mempool.ts', '../chain/index.ts'], // mempool imports nothing else of node/
    ['node/chain/chain.ts', '../rpc/index.ts'], // against node/'s direction
    ['node/rpc/eth.ts', '../chain/store.ts'], // past chain's index
    ['node/node.ts', './chain/store.ts'], // the root too goes through the index
    ['cli/commands/start.ts', '../../node/rpc/server.ts'], // from outside node/
    ['bench/harness/cluster.ts', '../../node/newthing/index.ts'], // a subsystem the test does not know
    ['node/producer/producer.ts', '../node.ts'], // a subsystem importing the composition
    ['gatekeeper/serve.ts', '@ethereumjs/vm'], // execution packages outside evm/
    ['contracts/bindings.ts', '../evm/index.ts'], // contracts/ → evm/ is for contracts/vm.ts only
    ['bench/suites/gas.ts', '../../test/helpers/medrec-vm.ts'], // a benchmark on a test helper
    ['ui/src/screens/patient.tsx', '../../../node/rpc/index.ts'], // the browser app reaching into the node
    ['ui/src/api/rpc.ts', '../../../gatekeeper/serve.ts'], // … or the gatekeeper's workings
    ['ui/src/api/medrec.ts', '../../../gatekeeper/api.ts'], // the API types, but as a value import
    ['ui/src/api/chain.ts', '../../../contracts/index.ts'], // contracts/' full face (predeploys use Buffer)
    ['ui/src/keys/keystore.ts', 'node:crypto'], // a Node built-in in the browser
    ['ui/src/main.tsx', '@libp2p/tcp'], // a package that is not the app's
  ]
  for (const [from, spec] of broken) {
    const target = spec.startsWith('.') ? join(dirname(from), spec) : spec
    t.equal(violations([{ from, spec, target }]).length, 1, `${from} → ${spec} is a violation`)
  }
  t.same(violations([{ from: 'ui/src/api/medrec.ts', spec: '../../../gatekeeper/api.ts', target: 'gatekeeper/api.ts', typeOnly: true }]), [], 'ui/ may import the medrec_* API types')
  const fine: Array<[string, string]> = [
    ['node/rpc/eth.ts', '../chain/index.ts'],
    ['node/chain/chain.ts', './store.ts'],
    ['cli/rpc-client.ts', '../node/rpc/access.ts'],
    ['cli/commands/start.ts', '../../node/node.ts'],
    ['contracts/vm.ts', '../evm/index.ts'],
    ['ui/src/api/chain.ts', '../../../contracts/client/index.ts'],
    ['ui/src/shell/app.tsx', '../screens/index.ts'],
    ['ui/src/shell/app.tsx', 'preact/hooks'],
    ['ui/src/keys/mnemonic.ts', 'viem/accounts'],
    ['ui/build.ts', 'node:fs/promises'],
  ]
  for (const [from, spec] of fine) t.same(violations([{ from, spec, target: join(dirname(from), spec) }]), [], `${from} → ${spec} is allowed`)
})

t.test("node/'s subsystems are the ones listed, each with its faces, in one direction", async (t) => {
  const dir = join(ROOT, 'node')
  const entries = readdirSync(dir)
  const folders = entries.filter((n) => statSync(join(dir, n)).isDirectory())
  t.same(folders.sort(), Object.keys(NODE).sort(), 'every folder of node/ is a listed subsystem')
  t.same(entries.filter((n) => n.endsWith('.ts')).sort(), NODE_ROOT.sort(), "node/'s own files are the composition's")
  for (const sub of folders) {
    for (const face of ['index.ts', ...(FACES[sub] ?? [])]) t.ok(existsSync(join(dir, sub, face)), `node/${sub}/${face} exists`)
  }
  // The allowed imports between subsystems form no cycle (so the files cannot either).
  const state = new Map<string, 'visiting' | 'done'>()
  const cycles: string[] = []
  const visit = (s: string, path: string[]) => {
    if (state.get(s) === 'done') return
    if (state.get(s) === 'visiting') return void cycles.push([...path.slice(path.indexOf(s)), s].join(' → '))
    state.set(s, 'visiting')
    for (const next of NODE[s] ?? []) visit(next, [...path, s])
    state.set(s, 'done')
  }
  for (const s of Object.keys(NODE)) visit(s, [])
  t.same(cycles, [], 'no cycle in the allowed imports')
})

t.test('there are no import cycles between files', async (t) => {
  const graph = new Map<string, string[]>()
  for (const file of product) {
    graph.set(
      file,
      edgesOf(file)
        .filter((e) => e.spec.startsWith('.'))
        .map((e) => join(ROOT, e.target)),
    )
  }
  const state = new Map<string, 'visiting' | 'done'>()
  const cycles: string[] = []
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return
    if (state.get(f) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(ROOT, p)).join(' → '))
      return
    }
    state.set(f, 'visiting')
    for (const next of graph.get(f) ?? []) visit(next, [...path, f])
    state.set(f, 'done')
  }
  for (const f of graph.keys()) visit(f, [])
  t.same(cycles, [], 'no cycles')
})
