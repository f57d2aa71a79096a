import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DEV0, medrec, tempDir } from './run-cli.ts'

const HINT = 'Run "medrec start --help" for usage.\n'

t.test('--metrics flag errors exit 2 before touching the data dir', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const cases: Array<[string[], string]> = [
    [['start', '--dev', '--datadir', dir, '--metrics.port', '6061'], '--metrics.* options need --metrics'],
    [['start', '--dev', '--datadir', dir, '--metrics.addr', '0.0.0.0'], '--metrics.* options need --metrics'],
    [['start', '--datadir', dir, '--metrics.port', 'x'], '--metrics.* options need --metrics'],
    [['start', '--dev', '--datadir', dir, '--metrics', '--metrics.port', 'http'], 'invalid value for --metrics.port: expected an integer from 0 to 65535, got "http"'],
    [['start', '--dev', '--datadir', dir, '--metrics', '--metrics.port=70000'], 'invalid value for --metrics.port: expected an integer from 0 to 65535, got "70000"'],
    [['start', '--dev', '--datadir', dir, '--metrics', '--metrics.port', '-1'], 'invalid value for --metrics.port: expected an integer from 0 to 65535, got "-1"'],
    [['start', '--dev', '--datadir', dir, '--metrics', '--metrics.prot', '1'], 'unknown flag --metrics.prot for "medrec start" (did you mean --metrics.port?)'],
    [['mine', '--datadir', dir, '--miner.etherbase', DEV0, '--metrics.port', '6061'], '--metrics.* options need --metrics'],
  ]
  for (const [args, message] of cases) {
    const r = await medrec(args, { cwd: tmp.path })
    t.equal(r.code, 2, args.join(' '))
    const hint = HINT.replace('medrec start', `medrec ${args[0]}`)
    t.ok(r.stderr.startsWith(`Error: ${message}`) && r.stderr.endsWith(`\n${hint}`), `${args.join(' ')}\n${r.stderr}`)
  }
  t.notOk(existsSync(dir), 'nothing created')
})

t.test('start and mine --help list the metrics flags with their defaults', async (t) => {
  for (const command of ['start', 'mine']) {
    const r = await medrec([command, '--help'])
    t.equal(r.code, 0)
    t.match(r.stdout, /--metrics\s+serve Prometheus metrics at http:\/\/A:P\/metrics \[default: off\]/)
    t.match(r.stdout, /--metrics\.addr A\s+metrics listen address \[default: 127\.0\.0\.1\]/)
    t.match(r.stdout, /--metrics\.port P\s+metrics port \(0: any free port\) \[default: 6060\]/)
  }
})
