import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ROOT } from '../../bench/harness/process.ts'

/**
 * bench/ drives nodes through its own harness (bench/harness/process.ts, rpc.ts, local-network.ts),
 * which the e2e test helpers delegate to, never the other way round. The one exception: the gas
 * suite's contract VM, which uses the ethereumjs execution packages that only evm/ may import.
 */
const EXCEPTIONS: Record<string, string[]> = {
  'bench/suites/gas.ts': ['test/helpers/contract-vm.ts', 'test/helpers/medrec-vm.ts'],
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

t.test('bench/ imports nothing from test/ but the gas suite its contract VM', async (t) => {
  const found: string[] = []
  for (const file of files(join(ROOT, 'bench'))) {
    const from = relative(ROOT, file)
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!
      if (!spec.startsWith('.')) continue
      const target = relative(ROOT, resolve(dirname(file), spec))
      if (target.startsWith('test/') && !(EXCEPTIONS[from] ?? []).includes(target)) found.push(`${from} imports ${target}`)
    }
  }
  t.same(found, [], 'no other import of test/')
})
