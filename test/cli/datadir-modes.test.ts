import t from 'tap'
import { chmodSync, lstatSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { secureDatadir } from '../../cli/commands/shared.ts'
import { tempDir } from './run-cli.ts'

/** An existing data dir with looser modes is made owner-only at start, and what changed is reported. */

t.test('secureDatadir strips group and other permissions everywhere, and only there', async (t) => {
  const dir = tempDir('medrec-modes-')
  t.teardown(() => dir.remove())
  const outside = join(dir.path, 'outside.txt')
  writeFileSync(outside, 'not ours')
  chmodSync(outside, 0o644)
  const data = join(dir.path, 'data')
  mkdirSync(join(data, 'gatekeeper'), { recursive: true })
  chmodSync(data, 0o755)
  chmodSync(join(data, 'gatekeeper'), 0o775)
  for (const [name, m] of [['nodekey', 0o600], ['genesis.json', 0o644], [join('gatekeeper', 'state.sqlite'), 0o666], [join('gatekeeper', 'state.sqlite-wal'), 0o644], ['run.sh', 0o755]] as const) {
    writeFileSync(join(data, name), 'x')
    chmodSync(join(data, name), m)
  }
  symlinkSync(outside, join(data, 'link'))

  const changed = await secureDatadir(data)
  t.same(
    changed.map((c) => [c.path.slice(data.length), c.from.toString(8), c.to.toString(8)]).sort(),
    [
      ['', '755', '700'],
      ['/genesis.json', '644', '600'],
      ['/gatekeeper', '775', '700'],
      ['/gatekeeper/state.sqlite', '666', '600'],
      ['/gatekeeper/state.sqlite-wal', '644', '600'],
      ['/run.sh', '755', '700'],
    ].sort(),
    'every loose entry, with its old and new mode',
  )
  t.equal(statSync(join(data, 'nodekey')).mode & 0o777, 0o600, 'an owner-only file is left alone')
  t.equal(statSync(outside).mode & 0o777, 0o644, 'a symlink is not followed out of the data dir')
  t.ok(lstatSync(join(data, 'link')).isSymbolicLink())
  t.same(await secureDatadir(data), [], 'a second start finds nothing to change')
})
