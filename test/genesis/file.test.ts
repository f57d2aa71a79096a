import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createDevGenesis, genesisToJson, readGenesisFile } from '../../node/genesis/index.ts'
import { tempDir } from '../helpers/node-process.ts'

t.test('readGenesisFile', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const p = (n: string): string => join(dir.path, n)

  await writeFile(p('genesis.json'), JSON.stringify(genesisToJson(createDevGenesis()), null, 2))
  t.same(await readGenesisFile(p('genesis.json')), createDevGenesis(), 'reads what genesisToJson wrote')

  await t.rejects(readGenesisFile(p('missing.json')), {
    name: 'GenesisError',
    code: 'GENESIS_GENESIS_FILE',
    message: `genesis file ${p('missing.json')} does not exist: check the path`,
  })
  await t.rejects(readGenesisFile(dir.path), { code: 'GENESIS_GENESIS_FILE', message: new RegExp(`^genesis file ${dir.path} cannot be read \\(.*EISDIR`) })

  await writeFile(p('broken.json'), '{\n  "config": {},\n  "gasLimit": "0x1",\n}\n')
  await t.rejects(readGenesisFile(p('broken.json')), {
    code: 'GENESIS_GENESIS_FILE',
    message: new RegExp(`^genesis file ${p('broken.json')} is not valid JSON: .*position 39 \\(line 4 column 1\\)`),
  })
  await writeFile(p('empty.json'), '')
  await t.rejects(readGenesisFile(p('empty.json')), { code: 'GENESIS_GENESIS_FILE', message: /is not valid JSON: Unexpected end of JSON input/ })

  const bad = genesisToJson(createDevGenesis())
  bad.config.poa!.period = -1
  await writeFile(p('invalid.json'), JSON.stringify(bad))
  await t.rejects(readGenesisFile(p('invalid.json')), {
    code: 'GENESIS_INVALID_GENESIS',
    message: `${p('invalid.json')}: genesis.config.poa.period: must be a non-negative integer (seconds between blocks), got -1`,
    context: { path: 'genesis.config.poa.period', file: p('invalid.json') },
  })
})
