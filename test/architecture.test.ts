import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ROOT } from './helpers/node-process.ts'

/**
 * The import rules of ARCHITECTURE.md, enforced: which product folder may import which, which
 * folders may import the ethereumjs execution packages, and no import cycles between modules.
 */
const ALLOWED: Record<string, string[]> = {
  common: [],
  contracts: ['common'],
  consensus: ['common'],
  evm: ['common'],
  p2p: ['common'],
  gatekeeper: ['common', 'contracts'],
  node: ['common', 'contracts', 'consensus', 'evm', 'p2p', 'gatekeeper', 'node'],
  // The benchmarks drive whole nodes; the CLI is the top and may reach the harness for `medrec bench`.
  bench: ['common', 'contracts', 'consensus', 'evm', 'p2p', 'gatekeeper', 'node', 'test'],
  cli: ['common', 'contracts', 'consensus', 'evm', 'p2p', 'gatekeeper', 'node', 'bench'],
}
const EXECUTION_PACKAGES = ['@ethereumjs/vm', '@ethereumjs/evm', '@ethereumjs/statemanager', '@ethereumjs/mpt']

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'generated' ? [] : files(p)
    return p.endsWith('.ts') ? [p] : []
  })
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8')
  return [...src.matchAll(IMPORT)].map((m) => (m[1] ?? m[2])!)
}

const product = Object.keys(ALLOWED).flatMap((folder) => {
  try {
    return files(join(ROOT, folder))
  } catch {
    return []
  }
})

t.test('product folders import only in the allowed direction', async (t) => {
  const violations: string[] = []
  for (const file of product) {
    const from = relative(ROOT, file).split('/')[0]!
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = relative(ROOT, resolve(dirname(file), spec)).split('/')[0]!
        if (target !== from && !ALLOWED[from]!.includes(target)) violations.push(`${relative(ROOT, file)} imports ${spec} (${from} → ${target})`)
      } else if (EXECUTION_PACKAGES.some((p) => spec === p || spec.startsWith(p + '/')) && from !== 'evm') {
        violations.push(`${relative(ROOT, file)} imports ${spec}: only evm/ may use the execution packages`)
      }
    }
  }
  t.same(violations, [], 'no import against the module direction')
  t.ok(product.length > 20, `checked ${product.length} files`)
})

t.test('there are no import cycles between files', async (t) => {
  const graph = new Map<string, string[]>()
  for (const file of product) {
    graph.set(
      file,
      importsOf(file)
        .filter((s) => s.startsWith('.'))
        .map((s) => resolve(dirname(file), s)),
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
