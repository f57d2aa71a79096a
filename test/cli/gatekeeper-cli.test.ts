import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { MEDREC, ROOT } from '../helpers/node-process.ts'
import { plainNode } from '../helpers/plain-node.ts'
import { medrec, tempDir, type CliResult } from './run-cli.ts'
import { COMMON_FLAGS, parseFlags } from '../../cli/args.ts'
import { bountyGroup, cellsTable } from '../../cli/commands/bounty.ts'
import { exitCodeOf } from '../../cli/errors.ts'
import { withOutput } from '../../cli/io.ts'
import { commandHelp, groupHelp } from '../../cli/help.ts'
import type { CommandSpec } from '../../cli/types.ts'
import { parseExpires, patientGroup, parseFetchPointers, parseGrantPointer, parseGrantPointers } from '../../cli/commands/patient.ts'
import { formatTable } from '../../cli/commands/shared.ts'
import { jsonOrFile, providerGroup, resourcesOf } from '../../cli/commands/provider.ts'
import { createSseParser, eventsUrl, watchCommand, type SseEvent } from '../../cli/commands/watch.ts'

/**
 * `medrec provider|patient|bounty|watch`: help, flag validation (usage errors, exit 2, before any
 * RPC call), the --pointer/--expires parsers, and the JSON-RPC params and output against a stub
 * node that records what it is sent. End-to-end runs with real nodes live elsewhere.
 */

const A = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
const B = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc'
const REL = '0x5fbdb2315678afecb367f032d93f642f64180aa3'
// The CLI sends a token made from the node's secret (--rpc.jwtsecret or --datadir); the stub node takes any.
const secretDir = tempDir()
t.teardown(() => secretDir.remove())
const SECRET_FILE = join(secretDir.path, 'jwtsecret')
writeFileSync(SECRET_FILE, '0x' + '42'.repeat(32))
const AUTH = ['--rpc.jwtsecret', SECRET_FILE]
const DOWN = ['--rpc', 'http://127.0.0.1:9', ...AUTH]

const SPECS: CommandSpec[] = [...providerGroup.commands, ...patientGroup.commands, ...bountyGroup.commands, watchCommand]

/**
 * Runs a command in this process as `medrec` would (flags parsed against its spec, exit status
 * from the error), capturing what it prints: spawning the binary for each of ~100 command
 * lines would take minutes on this machine. A few spawned runs below check the real binary.
 */
async function run(words: string, argv: string[]): Promise<CliResult & { error?: unknown }> {
  const spec = SPECS.find((s) => s.path === words)
  if (spec === undefined) throw new Error(`no command ${words}`)
  let stdout = ''
  let stderr = ''
  const sink = { out: (text: string) => void (stdout += text), err: (text: string) => void (stderr += text) }
  try {
    await withOutput(sink, () => spec.run(parseFlags(argv, [...spec.flags, ...COMMON_FLAGS], `medrec ${words}`)))
    return { code: 0, stdout, stderr }
  } catch (error) {
    return { code: exitCodeOf(error), stdout, stderr: stderr + `Error: ${(error as Error).message}\n`, error }
  }
}

const HELP: Record<string, string[]> = {
  'provider add-patient': ['identity', 'address', 'patient', 'patient-id', 'rpc', 'json'],
  'provider add-record': ['identity', 'patient-id', 'resource', 'query', 'bounty', 'rpc', 'json'],
  'provider update': ['identity', 'patient-id', 'bounty', 'rpc', 'json'],
  'provider import': ['bundle', 'csv', 'type', 'publish', 'rpc', 'json'],
  'provider consent': ['rpc', 'json'],
  'provider require-consent': ['relationship', 'off', 'rpc', 'json'],
  'provider approve': ['relationship', 'viewer', 'grant', 'rpc', 'json'],
  'provider anchor-audit': ['rpc', 'json'],
  'patient relationships': ['rpc', 'json'],
  'patient accept': ['relationship', 'rpc', 'json'],
  'patient reject': ['relationship', 'rpc', 'json'],
  'patient delete': ['relationship', 'rpc', 'json'],
  'patient share': ['relationship', 'viewer', 'pointer', 'expires', 'rpc', 'json'],
  'patient revoke': ['relationship', 'viewer', 'rpc', 'json'],
  'patient fetch': ['relationship', 'pointer', 'out', 'rpc', 'json'],
  'patient audit': ['relationship', 'gatekeeper', 'rpc', 'json'],
  'bounty list': ['rpc', 'json'],
  'bounty collect': ['index', 'rpc', 'json'],
  'bounty export': ['csv', 'out', 'rpc', 'json'],
  watch: ['since', 'rpc', 'json'],
}

t.test('help lists the gatekeeper commands and every flag with its default', async (t) => {
  t.same(SPECS.map((s) => s.path).sort(), Object.keys(HELP).sort(), 'every command is covered')
  for (const spec of SPECS) {
    const help = commandHelp(spec)
    t.match(help, new RegExp(`^Usage: medrec ${spec.path} `))
    for (const f of HELP[spec.path]!) t.match(help, new RegExp(`\\n  --${f}\\b[^\\n]*\\[default: [^\\]]+\\]`), `${spec.path} documents --${f}`)
  }
  for (const [g, subs] of [[providerGroup, ['add-patient', 'add-record', 'update', 'import', 'consent', 'require-consent', 'approve', 'anchor-audit']], [patientGroup, ['relationships', 'accept', 'reject', 'delete', 'share', 'revoke', 'fetch', 'audit']], [bountyGroup, ['list', 'collect', 'export']]] as const) {
    for (const s of subs) t.match(groupHelp(g), new RegExp(`\\n  ${s}\\b`), `${g.path} lists ${s}`)
  }
  // The real binary: registered at the root, help in three spellings.
  const [root, group, ...ways] = await Promise.all([medrec(['--help']), medrec(['help', 'patient']), medrec(['patient', 'share', '-h']), medrec(['help', 'patient', 'share'])])
  for (const c of ['provider', 'patient', 'bounty', 'watch']) t.match(root!.stdout, new RegExp(`\\n  ${c}\\b`), `root help lists ${c}`)
  t.equal(group!.stdout, groupHelp(patientGroup))
  for (const r of ways) {
    t.equal(r.code, 0)
    t.equal(r.stdout, commandHelp(SPECS.find((s) => s.path === 'patient share')!), 'the same help every way')
  }
})

t.test('bad command lines are usage errors naming the flag, before any RPC call', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const f = (name: string, text: string) => {
    const p = join(dir.path, name)
    writeFileSync(p, text)
    return p
  }
  const notJson = f('broken.json', '{"resourceType": "Patient",')
  const obs = f('obs.json', JSON.stringify({ resourceType: 'Observation', id: 'o1' }))
  const noId = f('noid.json', JSON.stringify([{ resourceType: 'Observation', id: 'o1' }, { resourceType: 'Observation' }]))
  const noEntry = f('noentry.json', JSON.stringify({ resourceType: 'Bundle', type: 'collection' }))
  const empty = f('empty.json', '[]')
  const csv = f('rows.csv', 'code,value\n1,2\n')
  const rel = ['--relationship', REL]
  const share = ['--relationship', REL, '--viewer', B]
  const cases: Array<[string, string[], string | RegExp]> = [
    ['provider add-patient', ['--address', A], 'missing --identity ID for "medrec provider add-patient"'],
    ['provider add-patient', ['--identity', 'alice'], 'missing --address ADDRESS'],
    ['provider add-patient', ['--identity', 'alice', '--address', '0x1234'], 'invalid value for --address'],
    ['provider add-patient', ['--identity', 'alice', '--address', A, '--patient', obs, '--patient-id', 'p1'], 'give --patient FILE or --patient-id ID, not both'],
    ['provider add-patient', ['--identity', 'alice', '--address', A, '--patient', notJson], `invalid value for --patient: ${notJson} is not JSON`],
    ['provider add-patient', ['--identity', 'alice', '--address', A, '--patient', obs], `${obs} holds a Observation, expected a FHIR Patient resource`],
    ['provider add-record', ['--resource', obs], 'missing --identity ID or --patient-id ID'],
    ['provider add-record', ['--identity', 'a', '--patient-id', 'p', '--resource', obs], 'give --identity ID or --patient-id ID, not both'],
    ['provider add-record', ['--identity', 'a'], 'missing --resource FILE'],
    ['provider add-record', ['--identity', 'a', '--resource', notJson], `invalid value for --resource: ${notJson} is not JSON`],
    ['provider add-record', ['--identity', 'a', '--resource', noId], `resource 1 in ${noId} (Observation) has no "id"`],
    ['provider add-record', ['--identity', 'a', '--resource', noEntry], `the Bundle in ${noEntry} has no "entry" array`],
    ['provider add-record', ['--identity', 'a', '--resource', empty], `${empty} holds no resources`],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--query', '{"resourceType":'], 'invalid value for --query: the inline value is not JSON'],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--query', 'query.json'], 'expected a JSON object or @FILE (a file name needs the @)'],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--query', `@${notJson}`], `invalid value for --query: ${notJson} is not JSON`],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--query', '{"resourceType":"Observation","fields":["code"],"search":{"code":"1; DROP TABLE x"}}'], /invalid value for --query: invalid record query: search values never go on chain/],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--query', '{"resourceType":"Observation","fields":["code"],"search":{"name":"Alice"}}'], 'search values never go on chain'],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--query', '{"resourceType":"Observation","fields":["code"],"codeSystems":["http://loinc.org|4548-4"]}'], /invalid value for --query: .*not one this grammar allows \(a closed list/],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--bounty', '{"resourceType":"Observation","aggregate":"count","search":{"value-quantity":"ge6.5"}}'], 'invalid value for --bounty: invalid bounty query: search values never go on chain'],
    ['provider update', ['--bounty', '{"resourceType":"Condition","aggregate":"count","search":{"code":"E11"}}'], 'invalid value for --bounty: invalid bounty query: search values never go on chain'],
    ['provider add-record', ['--identity', 'a', '--resource', obs, '--bounty', '{"resourceType":"Observation","aggregate":"median"}'], 'invalid value for --bounty: invalid bounty query: aggregate must be one of'],
    ['provider update', ['--identity', 'a', '--patient-id', 'p'], 'not both'],
    ['provider update', ['--bounty', '{"resourceType":"Observation","aggregate":"sum"}'], 'aggregate sum needs a field'],
    ['provider import', [], 'missing --bundle FILE or --csv FILE --type RESOURCETYPE'],
    ['provider import', ['--bundle', obs, '--csv', csv], 'give --bundle FILE or --csv FILE, not both'],
    ['provider import', ['--csv', csv], 'missing --type RESOURCETYPE for --csv'],
    ['provider import', ['--csv', csv, '--type', 'Observations'], 'invalid value for --type: expected one of Patient, Encounter, Observation'],
    ['provider import', ['--bundle', obs], `invalid value for --bundle: ${obs} is not a FHIR Bundle`],
    ['provider import', ['--bundle', obs, '--type', 'Observation'], '--type goes with --csv'],
    ['patient accept', [], 'missing --relationship ADDRESS'],
    ['patient reject', ['--relationship', 'abc'], 'invalid value for --relationship'],
    ['patient revoke', rel, 'missing --viewer ADDRESS'],
    ['patient share', [...rel, '--viewer', '0xzz', '--pointer', '0:0'], 'invalid value for --viewer'],
    ['patient share', share, 'missing --pointer POINTER:FIELDS'],
    ['patient share', [...share, '--pointer', '1'], 'invalid value for --pointer: "1" names no fields; a grant must list the fields it shares, e.g. --pointer 1:0,1'],
    ['patient share', [...share, '--pointer', '0:'], 'names no fields after the colon'],
    ['patient share', [...share, '--pointer', 'x:1'], 'the pointer id must be an integer'],
    ['patient share', [...share, '--pointer', '0:1,1'], 'field 1 of pointer 0 is listed twice'],
    ['patient share', [...share, '--pointer', '0:255'], 'must be an integer from 0 to 254'],
    ['patient share', [...share, '--pointer', '0:1', '--pointer', '0:2'], 'pointer 0 is given twice'],
    ['patient share', [...share, '--pointer', '0:1', '--expires', '2001-01-01'], 'invalid value for --expires: 2001-01-01T00:00:00Z is not in the future'],
    ['patient share', [...share, '--pointer', '0:1', '--expires', '5x'], 'invalid value for --expires: expected a duration (30m, 2h, 7d)'],
    ['patient fetch', [...rel, '--pointer', '0:1'], 'fetch takes pointer ids only'],
    ['patient fetch', [...rel, '--pointer', '0', '--pointer', '0'], 'pointer 0 is given twice'],
    ['patient audit', ['--gatekeeper', '0x12'], 'invalid value for --gatekeeper'],
    ['bounty collect', [], 'missing --index N'],
    ['bounty collect', ['--index', 'first'], 'invalid value for --index: expected an integer'],
    ['watch', ['--since', '-1'], 'invalid value for --since'],
    ['watch', ['--rpc', 'not a url'], 'invalid value for --rpc: expected an http(s) URL'],
  ]
  for (const [cmd, args, message] of cases) {
    // Nothing listens on port 9: a command line that got past validation fails with RPC, exit 1.
    const r = await run(cmd, args.includes('--rpc') ? args : [...args, ...DOWN])
    t.equal(r.code, 2, `exit 2: ${cmd} ${args.join(' ')}\n${r.stderr}`)
    t.match(r.stderr, message, cmd)
    t.equal(r.stdout, '')
  }
  // A missing file is a runtime failure naming the file; valid input reaches the RPC call.
  const missing = await run('provider add-record', ['--identity', 'a', '--resource', join(dir.path, 'nope.json'), ...DOWN])
  t.equal(missing.code, 1)
  t.match(missing.stderr, `cannot read --resource file ${join(dir.path, 'nope.json')}`)
  const valid = await run('patient share', [...share, '--pointer', '0:0,2', '--expires', '7d', ...DOWN])
  t.equal(valid.code, 1, 'a valid command line gets as far as the node')
  t.match(valid.stderr, 'cannot reach a node at http://127.0.0.1:9')

  // The real binary: exit status 2 and the hint, the flag typo suggestion.
  const spawned = await Promise.all([
    medrec(['patient', 'share', ...share, '--pointer', '1', ...DOWN]),
    medrec(['watch', '--since', 'x', ...DOWN]),
    medrec(['provider', 'import', '--csv', csv, '--typ', 'Observation', ...DOWN]),
  ])
  t.same(spawned.map((r) => r.code), [2, 2, 2])
  t.match(spawned[0]!.stderr, /^Error: invalid value for --pointer: "1" names no fields[^\n]*\nRun "medrec patient share --help" for usage.\n$/)
  t.match(spawned[1]!.stderr, 'Run "medrec watch --help" for usage.')
  t.match(spawned[2]!.stderr, 'unknown flag --typ for "medrec provider import" (did you mean --type?)')
})

t.test('--pointer of a grant: POINTER:FIELDS, fields required', async (t) => {
  t.same(parseGrantPointer('0:0,2'), { pointerId: 0, fields: [0, 2] })
  t.same(parseGrantPointer(' 12 : 3 , 1 '), { pointerId: 12, fields: [3, 1] }, 'spaces are ignored, order kept')
  t.same(parseGrantPointer('1:254'), { pointerId: 1, fields: [254] })
  t.same(parseGrantPointers(['0:1', '1:0,1']), [{ pointerId: 0, fields: [1] }, { pointerId: 1, fields: [0, 1] }])
  const usage = (v: string, message: string | RegExp) => t.throws(() => parseGrantPointer(v), { code: 'CLI_USAGE', message }, v)
  usage('1', /"1" names no fields; a grant must list the fields it shares/)
  usage('1:', /names no fields after the colon/)
  usage('1:,', /field index "" of pointer 1 must be an integer/)
  usage('1:0,,2', /field index "" of pointer 1/)
  usage(':1', /the pointer id must be an integer/)
  usage('-1:0', /the pointer id must be an integer/)
  usage('1.5:0', /the pointer id/)
  usage('0x1:0', /the pointer id/)
  usage('9007199254740992:0', /the pointer id must be an integer from 0 to 9007199254740991/)
  usage('0:255', /field index "255" of pointer 0 must be an integer from 0 to 254/)
  usage('0:-1', /field index "-1"/)
  usage('0:a', /field index "a"/)
  usage('0:2,2', /field 2 of pointer 0 is listed twice/)
  usage('all', /expected POINTER:FIELD/)
  t.throws(() => parseGrantPointers([]), { code: 'CLI_USAGE', message: /missing --pointer/ })
  t.throws(() => parseGrantPointers(['3:0', '3:1']), { code: 'CLI_USAGE', message: /pointer 3 is given twice/ })
  t.same(parseFetchPointers([]), undefined, 'fetch: no --pointer means every readable pointer')
  t.same(parseFetchPointers(['2', '0']), [2, 0])
  t.throws(() => parseFetchPointers(['0:1']), { code: 'CLI_USAGE', message: /fetch takes pointer ids only/ })
})

t.test('--expires: durations from now, unix seconds, ISO dates; never in the past', async (t) => {
  const now = Date.parse('2030-01-01T00:00:00Z')
  const s = now / 1000
  t.equal(parseExpires('30m', now), s + 1800)
  t.equal(parseExpires('2h', now), s + 7200)
  t.equal(parseExpires('7d', now), s + 7 * 86400)
  t.equal(parseExpires('1w', now), s + 7 * 86400)
  t.equal(parseExpires('1d12h', now), s + 86400 + 43200, 'compound durations add up')
  t.equal(parseExpires('90S', now), s + 90, 'units are case-insensitive')
  t.equal(parseExpires(String(s + 60), now), s + 60, 'unix seconds as given')
  t.equal(parseExpires('2030-02-01', now), Date.parse('2030-02-01T00:00:00Z') / 1000, 'a date is midnight UTC')
  t.equal(parseExpires('2030-01-01T01:30:00Z', now), s + 5400)
  t.equal(parseExpires('2030-01-01T02:00:00+01:00', now), s + 3600, 'an offset is honoured')
  const usage = (v: string, message: RegExp) => t.throws(() => parseExpires(v, now), { code: 'CLI_USAGE', message }, v)
  usage('0m', /the duration "0m" is zero/)
  usage('0', /1970-01-01T00:00:00Z is not in the future/)
  usage(String(s), /is not in the future/)
  usage('2029-12-31', /2029-12-31T00:00:00Z is not in the future/)
  usage(String(now + 60_000), /looks like milliseconds; give unix seconds/)
  usage('2030-13-45', /is not a valid date/)
  usage('tomorrow', /expected a duration \(30m, 2h, 7d\), unix seconds, or an ISO date/)
  usage('5 days', /expected a duration/)
  usage('-5m', /expected a duration/)
  usage('1.5h', /expected a duration/)
})

t.test('resource files, JSON or @FILE values, tables', async (t) => {
  const obs = { resourceType: 'Observation', id: 'o1' }
  t.same(resourcesOf(obs, 'resource', 'f'), [obs], 'one resource')
  t.same(resourcesOf([obs, { ...obs, id: 'o2' }], 'resource', 'f').map((r) => r.id), ['o1', 'o2'], 'an array')
  t.same(resourcesOf({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: obs }] }, 'resource', 'f'), [obs], 'a Bundle gives its entries, not itself')
  t.throws(() => resourcesOf({ resourceType: 'Bundle', entry: [{ fullUrl: 'x' }] }, 'resource', 'f'), { code: 'CLI_USAGE', message: /entry 0 of the Bundle in f has no "resource"/ })
  t.throws(() => resourcesOf('text', 'resource', 'f'), { code: 'CLI_USAGE', message: /f is not a FHIR resource/ })
  t.same(await jsonOrFile('{"a":1}', 'query'), { a: 1 })
  const dir = tempDir()
  t.teardown(() => dir.remove())
  writeFileSync(join(dir.path, 'q.json'), '{"b":2}')
  t.same(await jsonOrFile(`@${join(dir.path, 'q.json')}`, 'query'), { b: 2 })
  await t.rejects(jsonOrFile('@', 'query'), { code: 'CLI_USAGE', message: /expected JSON or @FILE/ })
  await t.rejects(jsonOrFile(`@${join(dir.path, 'none.json')}`, 'query'), { code: 'CLI_READ_FAILED' })
  t.equal(formatTable(['a', 'bb'], [['xxx', 'y'], ['z', 'w']]), 'A    BB\nxxx  y\nz    w')
  t.equal(cellsTable([{ group: { code: 'x' }, patients: 5, records: 7, value: 7 }, { group: { code: 'yy' }, patients: 6, records: 6, value: null }]), 'CODE  PATIENTS  RECORDS  VALUE\nx     5         7        7\nyy    6         6        -')
})

t.test('the SSE parser and the events URL', async (t) => {
  const events: SseEvent[] = []
  const p = createSseParser((e) => events.push(e))
  p.push(': keep-alive\n\nevent: notification\nid: 1\ndata: {"a":')
  t.same(events, [], 'nothing until the blank line; a comment alone is no event')
  p.push('1}\r')
  p.push('\n\r\ndata:x\ndata: y\n\nretry: 50\nid: 9\nevent: other\ndata\n\n')
  t.same(events, [
    { event: 'notification', data: '{"a":1}', id: '1' },
    { event: 'message', data: 'x\ny', id: '1' },
    { event: 'other', data: '', id: '9', retry: 50 },
  ], 'CRLF split across chunks, multi-line data, the last id carries over, retry, field without a colon')
  t.equal(eventsUrl('http://127.0.0.1:8545', undefined).href, 'http://127.0.0.1:8545/medrec/events')
  t.equal(eventsUrl('http://h:1/rpc/', 7).href, 'http://h:1/rpc/medrec/events?since=7', 'keeps the RPC path')
})

// ---- against a stub node ----

interface Call {
  method: string
  params: unknown[]
}

interface Stub {
  url: string
  calls: Call[]
  /** Requests to /medrec/events: their Last-Event-ID header and since query. */
  streams: { lastEventId: string | undefined; since: string | null }[]
  close(): Promise<void>
}

type Handler = (params: unknown[]) => unknown

async function stubNode(handlers: Record<string, Handler>, events?: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<Stub> {
  const calls: Call[] = []
  const streams: Stub['streams'] = []
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'GET' && u.pathname === '/medrec/events') {
      streams.push({ lastEventId: req.headers['last-event-id'] as string | undefined, since: u.searchParams.get('since') })
      if (events === undefined) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      events(req, res, streams.length)
      return
    }
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const { id, method, params } = JSON.parse(body) as { id: number; method: string; params: unknown[] }
      calls.push({ method, params })
      const h = handlers[method]
      const reply = h === undefined ? { jsonrpc: '2.0', id, error: { code: -32601, message: `the method ${method} does not exist` } } : { jsonrpc: '2.0', id, result: h(params) ?? null }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    calls,
    streams,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

const bundle = (ids: string[]) => ({ resourceType: 'Bundle', type: 'searchset', total: ids.length, entry: ids.map((id) => ({ resource: { resourceType: 'Observation', id } })) })

t.test('provider commands send the params the API defines and print the result', async (t) => {
  const dir = tempDir()
  const stub = await stubNode({
    medrec_addPatient: ([p]) => ({ patientId: 'p1', identity: (p as { identity: string }).identity, address: A, summary: B, registered: true }),
    medrec_addRecord: () => ({ relationship: REL, pointerId: 0, dataHash: '0x' + 'ab'.repeat(32), action: 'created', transactions: ['0x' + '01'.repeat(32)] }),
    medrec_update: () => ({ updated: [{ relationship: REL, pointerId: 1, dataHash: '0x' + 'cd'.repeat(32) }], unchanged: 2 }),
    medrec_import: () => ({ imported: 3, byType: { Observation: 3 } }),
  })
  t.teardown(async () => {
    await stub.close()
    dir.remove()
  })
  const at = ['--rpc', stub.url, ...AUTH]
  const patientFile = join(dir.path, 'alice.json')
  writeFileSync(patientFile, JSON.stringify({ resourceType: 'Patient', id: 'p1', gender: 'female' }))
  const mixedCase = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
  const added = await run('provider add-patient', ['--identity', 'alice', '--address', mixedCase, '--patient', patientFile, ...at])
  t.equal(added.code, 0, added.stderr)
  t.same(stub.calls.at(-1), { method: 'medrec_addPatient', params: [{ identity: 'alice', address: A, patient: { resourceType: 'Patient', id: 'p1', gender: 'female' } }] }, 'the checksummed address is sent lower case')
  t.match(added.stdout, 'Added patient p1 (identity alice')
  t.match(added.stdout, `Registered identity alice on chain; summary ${B}`)

  const one = join(dir.path, 'one.json')
  const many = join(dir.path, 'bundle.json')
  const q = join(dir.path, 'q.json')
  writeFileSync(one, JSON.stringify({ resourceType: 'Observation', id: 'o1' }))
  writeFileSync(many, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Observation', id: 'o2' } }, { resource: { resourceType: 'Observation', id: 'o3' } }] }))
  writeFileSync(q, JSON.stringify({ fields: ['code', 'valueQuantity'], resourceType: 'Observation', codeSystems: ['http://snomed.info/sct', 'http://loinc.org'] }))
  const rec = await run('provider add-record', ['--patient-id', 'p1', '--resource', one, '--resource', many, '--query', `@${q}`, '--bounty', '{"resourceType":"Observation","aggregate":"count","groupBy":["code"]}', ...at])
  t.equal(rec.code, 0, rec.stderr)
  t.same(stub.calls.at(-1), {
    method: 'medrec_addRecord',
    params: [{
      patientId: 'p1',
      resources: [{ resourceType: 'Observation', id: 'o1' }, { resourceType: 'Observation', id: 'o2' }, { resourceType: 'Observation', id: 'o3' }],
      query: { resourceType: 'Observation', fields: ['code', 'valueQuantity'], codeSystems: ['http://loinc.org', 'http://snomed.info/sct'] },
      bounty: { resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] },
    }],
  }, 'resources from every file in order, the validated queries')
  t.match(rec.stdout, `Created relationship ${REL} pointer 0 (3 resources`)
  t.match(rec.stdout, `transaction 0x${'01'.repeat(32)}`)

  const upd = await run('provider update', ['--identity', 'alice', ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_update', params: [{ identity: 'alice' }] })
  t.match(upd.stdout, 'Updated 1 pointer, 2 unchanged')
  const all = await run('provider update', [...at, '--json'])
  t.same(stub.calls.at(-1)!.params, [{}], 'no patient: every relationship')
  t.same(JSON.parse(all.stdout), { updated: [{ relationship: REL, pointerId: 1, dataHash: '0x' + 'cd'.repeat(32) }], unchanged: 2 }, '--json prints the RPC result')

  const csv = join(dir.path, 'rows.csv')
  writeFileSync(csv, 'code,value\n8480-6,120\n')
  const imp = await run('provider import', ['--csv', csv, '--type', 'Observation', '--publish', ...at])
  t.equal(imp.code, 0, imp.stderr)
  t.same(stub.calls.at(-1), { method: 'medrec_import', params: [{ csv: 'code,value\n8480-6,120\n', resourceType: 'Observation', publish: true }] })
  t.match(imp.stdout, 'Imported 3 resources (3 Observation)')
  await run('provider import', ['--bundle', many, ...at])
  t.same(stub.calls.at(-1)!.params, [{ bundle: JSON.parse(readFileSync(many, 'utf8')) }])

  const slash = await run('provider add-patient', ['--identity', 'x', '--address', A, '--rpc', stub.url + '/', ...AUTH])
  t.equal(slash.code, 0, 'a trailing slash on --rpc is fine')

  // A query with a value never reaches the node: refused before any RPC call, saying what is allowed.
  const sent = stub.calls.length
  const valueQuery = join(dir.path, 'value-query.json')
  writeFileSync(valueQuery, JSON.stringify({ resourceType: 'Observation', fields: ['code', 'valueQuantity'], search: { 'value-quantity': 'ge6.5' } }))
  for (const [what, args] of [
    ['a search value in --query @FILE', ['--patient-id', 'p1', '--resource', one, '--query', `@${valueQuery}`]],
    ['a diagnosis code in --query', ['--patient-id', 'p1', '--resource', one, '--query', '{"resourceType":"Condition","fields":["code"],"search":{"code":"E11"}}']],
    ['a search value in --bounty', ['--patient-id', 'p1', '--resource', one, '--bounty', '{"resourceType":"Condition","aggregate":"count","search":{"code":"E11"}}']],
  ] as const) {
    const r = await run('provider add-record', [...args, ...at])
    t.equal(r.code, 2, `${what}: a usage error`)
    t.match(r.stderr, /search values never go on chain: a query names a resource type, fields and code systems.*e\.g\. \{"resourceType"/, `${what}: says what a query may contain`)
  }
  t.equal(stub.calls.length, sent, 'the node was never called')
  t.match(commandHelp(providerGroup.commands.find((c) => c.path === 'provider add-record')!), /never values[\s\S]*http:\/\/loinc\.org  LOINC/, 'the help says what a query may contain and lists the code systems')
})

t.test('patient commands: params, tables, VERIFIED/TAMPERED and the exit status', async (t) => {
  const dir = tempDir()
  let tampered = false
  let linked = true
  let anchorStatus: 'verified' | 'mismatch' = 'verified'
  const stub = await stubNode({
    medrec_relationships: () => [{
      relationship: REL, role: 'patient', status: 'pending', provider: A, patient: B, endpoint: 'http://gk', terminated: false,
      pointers: [{ pointerId: 0, query: '{}', fieldCount: 2, dataHash: '0x00', version: 1 }, { pointerId: 1, query: '{}', fieldCount: 3, dataHash: '0x00', version: 1 }],
      cached: [{ pointerId: 0, version: 1, status: 'verified', fetchedAt: 1 }],
    }],
    medrec_accept: () => ({ transactionHash: '0x' + '02'.repeat(32) }),
    medrec_reject: () => '0x' + '03'.repeat(32),
    // The node's own shape: { relationship, status, transaction }.
    medrec_delete: ([p]) => ({ relationship: (p as { relationship: string }).relationship, status: 'deleted', transaction: '0x' + '04'.repeat(32) }),
    medrec_consentRequests: () => [{ relationship: REL, patient: A, viewer: B, grantId: 3, grantedAt: 1893456000, expiresAt: 0, items: [{ pointerId: 0, fields: [0, 2] }] }],
    medrec_requireConsent: ([p]) => ({ ...(p as object), transaction: '0x' + '05'.repeat(32) }),
    medrec_approve: ([p]) => ({ ...(p as object), transaction: '0x' + '06'.repeat(32) }),
    medrec_share: () => null,
    medrec_revoke: () => null,
    medrec_fetch: ([p]) => ({
      relationship: (p as { relationship: string }).relationship,
      gatekeeper: A,
      transport: 'http',
      pointers: [
        { pointerId: 0, version: 1, fields: [0, 1], status: 'verified', dataHash: '0x' + 'aa'.repeat(32), bundle: bundle(['o1', 'o2']) },
        { pointerId: 1, version: 2, fields: [0], status: tampered ? 'tampered' : 'verified', dataHash: '0x' + 'bb'.repeat(32), bundle: bundle(['x9']) },
      ],
    }),
    // Times are unix milliseconds, as the gatekeeper records them.
    medrec_audit: () => ({
      gatekeeper: A,
      entries: [
        { seq: 1, time: 1893456000000, requester: B, method: 'records', relationship: REL, pointerIds: ['0'], fieldMasks: ['3'], decision: 'granted', reason: 'patient', hash: '0x1', prevHash: '0x0', covered: true },
        { seq: 2, time: 1893456060000, requester: A, method: 'records', relationship: REL, pointerIds: ['1'], fieldMasks: ['1'], decision: 'refused', reason: 'no grant', hash: '0x2', prevHash: '0x1', covered: false },
      ],
      head: { seq: 2, hash: '0x2' },
      linked,
      problem: linked ? '' : 'entry #2 does not open its commitment (edited)',
      anchor: { seq: 1, head: '0x1', blockNumber: 7, transaction: '0x' + '0a'.repeat(32) },
      covered: { throughSeq: 1, status: anchorStatus, entries: 1 },
      uncovered: { fromSeq: 2, entries: 1 },
    }),
    medrec_anchorAudit: () => ({ seq: 2, head: '0x' + '22'.repeat(32), transaction: '0x' + '0b'.repeat(32) }),
  })
  t.teardown(async () => {
    await stub.close()
    dir.remove()
  })
  const at = ['--rpc', stub.url, ...AUTH]
  const rels = await run('patient relationships', [...at])
  t.equal(rels.code, 0, rels.stderr)
  const lines = rels.stdout.trimEnd().split('\n')
  t.match(lines[0], /^RELATIONSHIP\s+ROLE\s+STATUS\s+PROVIDER\s+POINTERS\s+CACHED$/)
  t.match(lines[1], new RegExp(`^${REL}\\s+patient\\s+pending\\s+${A}\\s+0:2f 1:3f\\s+0:verified$`))

  const acc = await run('patient accept', ['--relationship', REL, ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_accept', params: [{ relationship: REL }] })
  t.match(acc.stdout, `Accepted ${REL} (transaction 0x${'02'.repeat(32)})`)
  const rej = await run('patient reject', ['--relationship', REL, ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_reject', params: [{ relationship: REL }] })
  t.match(rej.stdout, `Rejected ${REL} (transaction 0x${'03'.repeat(32)})`)
  const del = await run('patient delete', ['--relationship', REL, ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_delete', params: [{ relationship: REL }] })
  t.match(del.stdout, `Deleted ${REL} (transaction 0x${'04'.repeat(32)})`)

  // The provider's consent: list, require, approve (the grant id is sent as a number).
  const waiting = await run('provider consent', [...at])
  t.equal(waiting.code, 0, waiting.stderr)
  t.match(waiting.stdout, new RegExp(`${REL}\\s+${B}\\s+3\\s+never\\s+0:0,2`))
  const req = await run('provider require-consent', ['--relationship', REL, ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_requireConsent', params: [{ relationship: REL, required: true }] })
  t.match(req.stdout, `(transaction 0x${'05'.repeat(32)})`)
  await run('provider require-consent', ['--relationship', REL, '--off', ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_requireConsent', params: [{ relationship: REL, required: false }] })
  const approved = await run('provider approve', ['--relationship', REL, '--viewer', B, '--grant', '3', ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_approve', params: [{ relationship: REL, viewer: B, grantId: 3 }] })
  t.match(approved.stdout, `Approved grant 3 to ${B} on ${REL} (transaction 0x${'06'.repeat(32)})`)
  const calls = stub.calls.length
  const noGrant = await run('provider approve', ['--relationship', REL, '--viewer', B, '--grant', '0', ...at])
  t.match(noGrant.stderr, /invalid value for --grant/, 'grant ids start at 1: a usage error')
  t.equal(stub.calls.length, calls, 'sent nothing')

  const before = Math.floor(Date.now() / 1000)
  const sh = await run('patient share', ['--relationship', REL, '--viewer', B, '--pointer', '0:0,2', '--pointer', '1:1', '--expires', '2h', ...at])
  t.equal(sh.code, 0, sh.stderr)
  const sent = stub.calls.at(-1)!
  t.equal(sent.method, 'medrec_share')
  const params = sent.params[0] as { expiresAt: number }
  t.same(params, { relationship: REL, viewer: B, items: [{ pointerId: 0, fields: [0, 2] }, { pointerId: 1, fields: [1] }], expiresAt: params.expiresAt })
  t.ok(params.expiresAt >= before + 7200 && params.expiresAt <= before + 7205, '2h from now, in unix seconds')
  t.match(sh.stdout, `Shared pointer 0 fields 0,2; pointer 1 fields 1 of ${REL} with ${B} until `)
  await run('patient share', ['--relationship', REL, '--viewer', B, '--pointer', '0:1', ...at])
  t.notOk('expiresAt' in (stub.calls.at(-1)!.params[0] as object), 'no --expires: no expiry sent')
  await run('patient revoke', ['--relationship', REL, '--viewer', B, ...at])
  t.same(stub.calls.at(-1), { method: 'medrec_revoke', params: [{ relationship: REL, viewer: B }] })

  const file = join(dir.path, 'records.json')
  const ok = await run('patient fetch', ['--relationship', REL, '--pointer', '1', '--pointer', '0', '--out', file, ...at])
  t.equal(ok.code, 0, ok.stderr)
  t.same(stub.calls.at(-1), { method: 'medrec_fetch', params: [{ relationship: REL, pointerIds: [1, 0] }] })
  t.match(ok.stdout, /pointer 0 v1 {2}VERIFIED {2}2 records {2}fields 0,1/)
  t.match(ok.stdout, /pointer 1 v2 {2}VERIFIED {2}1 record {2}fields 0/)
  t.equal(statSync(file).mode & 0o777, 0o600, 'records are written owner-only')
  const written = JSON.parse(readFileSync(file, 'utf8')) as { resourceType: string; type: string; entry: { resource: { type: string; entry: unknown[] } }[] }
  t.equal(written.resourceType, 'Bundle')
  t.equal(written.type, 'collection')
  t.same(written.entry.map((e) => e.resource.entry.length), [2, 1], 'one searchset Bundle per pointer')

  tampered = true
  // The real binary, once: its exit status and report for a tampered record.
  const bad = await medrec(['patient', 'fetch', '--relationship', REL, '--out', file, ...at])
  t.equal(bad.code, 1, 'a tampered pointer fails the command')
  t.match(bad.stdout, /pointer 0 v1 {2}VERIFIED/)
  t.match(bad.stdout, /pointer 1 v2 {2}TAMPERED/)
  t.match(bad.stderr, /(?:^|\n)Error: pointer 1 TAMPERED: the records do not match the hash on chain[^\n]*\n$/)
  t.notMatch(bad.stderr, '--log.level debug', 'a known failure, not a bug report')
  const kept = JSON.parse(readFileSync(file, 'utf8')) as { entry: { resource: { entry: { resource: { id: string } }[] } }[] }
  t.same(kept.entry.flatMap((e) => e.resource.entry.map((x) => x.resource.id)), ['o1', 'o2'], 'tampered records are not written to --out')
  const badJson = await run('patient fetch', ['--relationship', REL, '--json', ...at])
  t.equal(badJson.code, 1, '--json: the same exit status')
  t.equal((JSON.parse(badJson.stdout) as { pointers: unknown[] }).pointers.length, 2)

  const aud = await run('patient audit', ['--relationship', REL, ...at])
  t.equal(aud.code, 0, aud.stderr)
  t.same(stub.calls.at(-1), { method: 'medrec_audit', params: [{ relationship: REL }] })
  t.match(aud.stdout, `Audit log of gatekeeper ${A}: 2 entries, head #2 0x2, links verified`)
  t.match(aud.stdout, 'Anchored at #1 (block 7): VERIFIED, 1 of your entry covered')
  t.match(aud.stdout, 'Not covered yet (after #1): 1 of your entry')
  t.match(aud.stdout, /SEQ\s+TIME\s+REQUESTER\s+METHOD\s+DECISION\s+REASON\s+ANCHORED/)
  t.match(aud.stdout, new RegExp(`2\\s+2030-01-01T00:01:00Z\\s+${A}\\s+records\\s+refused\\s+no grant\\s+no`), 'millisecond times print as dates, not in the year 58902')
  anchorStatus = 'mismatch'
  const rewritten = await run('patient audit', ['--relationship', REL, ...at])
  t.equal(rewritten.code, 1, 'a log that does not match its anchor fails the command')
  t.match(rewritten.stdout, 'NOT MATCHING the anchor')
  t.match(rewritten.stderr, 'does NOT match its anchor on chain at #1')
  anchorStatus = 'verified'
  const anchored = await run('provider anchor-audit', [...at])
  t.equal(anchored.code, 0, anchored.stderr)
  t.same(stub.calls.at(-1), { method: 'medrec_anchorAudit', params: [] })
  t.match(anchored.stdout, `Anchored the audit log at #2 0x${'22'.repeat(32)} (transaction 0x${'0b'.repeat(32)})`)
  await run('patient audit', ['--gatekeeper', A, ...at])
  t.same(stub.calls.at(-1)!.params, [{ gatekeeper: A }])
  linked = false
  const broken = await run('patient audit', [...at])
  t.equal(broken.code, 1, 'a broken hash chain fails the command')
  t.match(broken.stdout, 'links BROKEN')
  t.match(broken.stderr, 'entries were altered or removed')

  const nomethod = await run('bounty list', [...at])
  t.equal(nomethod.code, 1)
  t.match(nomethod.stderr, 'medrec_bounties failed: the method medrec_bounties does not exist')
})

t.test('bounty commands: the list, the cells, the signature check', async (t) => {
  let signer = A
  const stub = await stubNode({
    medrec_bounties: () => [{ index: 0, relationship: REL, pointerId: 1, blockNumber: 42, timestamp: 1893456000, query: '{"aggregate":"count"}', collected: false }],
    medrec_collectBounty: ([p]) => ({
      index: (p as { index: number }).index, relationship: REL, provider: A.toUpperCase().replace('0X', '0x'), k: 5, suppressed: 2, signature: '0x' + '11'.repeat(65), signer,
      cells: [{ group: { code: '8480-6' }, patients: 9, records: 12, value: 12 }],
    }),
  })
  t.teardown(() => stub.close())
  const at = ['--rpc', stub.url, ...AUTH]
  const list = await run('bounty list', [...at])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, new RegExp(`\\n0\\s+${REL}\\s+1\\s+42\\s+2030-01-01T00:00:00Z\\s+no\\s+\\{"aggregate":"count"\\}`))
  const got = await run('bounty collect', ['--index', '3', ...at])
  t.equal(got.code, 0, got.stderr)
  t.same(stub.calls.at(-1), { method: 'medrec_collectBounty', params: [{ index: 3 }] })
  t.match(got.stdout, /CODE\s+PATIENTS\s+RECORDS\s+VALUE\n8480-6\s+9\s+12\s+12/)
  t.match(got.stdout, '2 cells withheld (fewer than k=5 patients)')
  t.match(got.stdout, 'Signature: the provider\'s')
  signer = B
  const forged = await run('bounty collect', ['--index', '3', ...at])
  t.equal(forged.code, 1, 'a result not signed by the provider fails the command')
  t.match(forged.stdout, `Signature: NOT the provider's (signed by ${B})`)
  t.match(forged.stderr, 'not by the provider')
})

/** Runs `medrec watch …` until `done(stdout)` holds, then sends Ctrl-C. */
function watchUntil(args: string[], done: (stdout: string) => boolean): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(...plainNode([MEDREC, 'watch', ...args]), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let sent = false
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    proc.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
      if (!sent && done(stdout)) {
        sent = true
        proc.kill('SIGINT')
      }
    })
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    proc.on('error', reject)
    proc.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

// Notifications are stamped in unix milliseconds (the watch service's Date.now()).
const notification = (id: number) => ({ id, time: (1893456000 + id) * 1000, kind: 'grant', relationship: REL, message: `message ${id}` })
const sse = (res: ServerResponse, id: number) => res.write(`event: notification\nid: ${id}\ndata: ${JSON.stringify(notification(id))}\n\n`)

t.test('watch streams notifications, resumes after a dropped connection, stops on Ctrl-C', async (t) => {
  const stub = await stubNode({ medrec_notifications: () => [notification(5), notification(6)] }, (_req, res, n) => {
    res.write(': hello\n\nretry: 50\n\n')
    if (n === 1) {
      sse(res, 6) // already printed from medrec_notifications
      sse(res, 7)
      res.end() // the node goes away; watch reconnects after `retry`
    } else {
      sse(res, 7) // a replay of what was seen
      res.write('event: notification\ndata: not json\n\n')
      sse(res, 8)
    }
  })
  t.teardown(() => stub.close())
  const r = await watchUntil(['--since', '4', '--rpc', stub.url, ...AUTH], (s) => s.includes('message 8'))
  t.equal(r.code, 0, `Ctrl-C ends watch cleanly\n${r.stderr}`)
  // medrec_relationships first: an account without a Summary is told so (the stub has no such method: no note).
  t.same(stub.calls, [{ method: 'medrec_relationships', params: [] }, { method: 'medrec_notifications', params: [{ since: 4 }] }], 'missed notifications first')
  const lines = r.stdout.trimEnd().split('\n')
  t.same(lines.map((l) => /message (\d+)/.exec(l)?.[1]), ['5', '6', '7', '8'], 'each notification once, in order')
  t.match(lines[0], `2030-01-01T00:00:05Z  #5  grant  ${REL}  message 5`)
  t.same(stub.streams[0], { lastEventId: '6', since: '6' }, 'the stream resumes after the last id printed')
  t.same(stub.streams[1], { lastEventId: '7', since: '7' }, 'the reconnect resumes after the last id seen')
  t.match(r.stderr, 'reconnecting')
  t.match(r.stderr, 'Skipped an event that is not JSON')

  const json = await watchUntil(['--json', '--rpc', stub.url, ...AUTH], (s) => s.includes('"id":8'))
  t.equal(json.code, 0, json.stderr)
  t.same(stub.calls.slice(2).map((c) => c.method), ['medrec_relationships'], 'no --since: no medrec_notifications call')
  t.same(json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), [notification(7), notification(8)], '--json: one object per line')
})

t.test('watch fails clearly when there is no event stream', async (t) => {
  const stub = await stubNode({})
  t.teardown(() => stub.close())
  const r = await run('watch', ['--rpc', stub.url, ...AUTH])
  t.equal(r.code, 1)
  t.match(r.stderr, `cannot watch ${stub.url}/medrec/events: it has no /medrec/events: is the gatekeeper enabled on this node?`)
  const down = await run('watch', [...DOWN])
  t.equal(down.code, 1)
  t.match(down.stderr, 'cannot reach a node at http://127.0.0.1:9')
})
