import t from 'tap'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import { createSmartClients } from '../../gatekeeper/smart/clients.ts'
import { narrowScopes, parseScope, splitScopes } from '../../gatekeeper/smart/scopes.ts'
import { openStateDb } from '../../gatekeeper/state.ts'
import { tempDir } from '../helpers/node-process.ts'
import { medrec } from '../cli/run-cli.ts'

/** The SMART layer's pure rules: scope parsing and narrowing, client registration, and the CLI that registers. */

t.test('scopes: SMART v2 read/search only, narrowed to the readable types, never widened', async (t) => {
  t.same(parseScope('patient/Observation.rs'), { context: 'patient', resourceType: 'Observation', read: true, search: true })
  t.same(parseScope('user/*.r'), { context: 'user', resourceType: '*', read: true, search: false })
  t.same(parseScope('patient/Observation.read'), { context: 'patient', resourceType: 'Observation', read: true, search: true }, 'v1 read')
  for (const bad of ['patient/Observation.c', 'patient/Observation.cud', 'patient/Observation.sr', 'patient/Observation.rr', 'patient/Observation.write', 'system/Observation.rs', 'patient/observation.rs', 'patient/Observation.rs?category=x', 'launch/patient', 'openid', 'patient/../x.rs']) {
    t.equal(parseScope(bad), undefined, `${bad}: not grantable`)
  }
  const readable = new Set(['Observation', 'Condition'])
  t.same(narrowScopes(['launch/patient', 'patient/*.rs'], readable).granted, ['launch/patient', 'patient/Condition.rs', 'patient/Observation.rs'], 'a wildcard becomes the readable types')
  t.same(narrowScopes(['patient/Observation.r', 'patient/Observation.s'], readable).granted, ['patient/Observation.rs'], 'merged')
  t.same(narrowScopes(['patient/Immunization.rs', 'patient/Observation.cud'], readable).granted, [], 'a type not readable, or writes: nothing')
  t.same(narrowScopes(['launch/patient'], readable).granted, [], 'context alone grants nothing')
  t.equal(splitScopes(''), undefined)
  t.equal(splitScopes('a"b'), undefined, 'RFC 6749 scope characters only')
  t.equal(splitScopes(Array.from({ length: 101 }, (_, i) => `s${i}`).join(' ')), undefined, 'at most 100 scopes')
})

t.test('clients: exact redirect URIs, https or loopback http, no fragment; unknown ids are undefined', async (t) => {
  const clients = createSmartClients(openStateDb(':memory:'))
  const c = clients.add({ redirectUris: ['https://app.example/cb', 'http://127.0.0.1:8080/cb'], name: 'App' })
  t.match(c.clientId, /^smart-/)
  t.same(clients.get(c.clientId)?.redirectUris, ['https://app.example/cb', 'http://127.0.0.1:8080/cb'])
  for (const bad of ['http://app.example/cb', 'https://app.example/cb#x', 'cb', 'javascript:alert(1)', 'ftp://127.0.0.1/cb']) {
    t.throws(() => clients.add({ redirectUris: [bad] }), { code: 'GATEKEEPER_BAD_REQUEST' }, `${bad}: refused`)
  }
  t.throws(() => clients.add({ redirectUris: ['https://a.example/cb'], clientId: c.clientId }), 'a taken client id is refused')
  t.throws(() => clients.add({ redirectUris: ['https://a.example/cb'], clientId: "x' OR 1=1" }), 'a client id outside the alphabet is refused')
  t.equal(clients.get("x' OR 1=1"), undefined)
  t.equal(clients.get('smart-nope'), undefined)
  t.equal(clients.remove(c.clientId), true)
  t.equal(clients.get(c.clientId), undefined)
})

t.test('medrec gatekeeper add-client / list-clients / remove-client', async (t) => {
  const dir = tempDir('medrec-smart-cli-')
  t.teardown(() => dir.remove())
  const none = await medrec(['gatekeeper', 'add-client', '--datadir', dir.path, '--redirect-uri', 'https://app.example/cb'])
  t.equal(none.code, 1, 'no gatekeeper dir: an error')
  t.match(none.stderr, /start the node with --gatekeeper/)
  mkdirSync(join(dir.path, 'gatekeeper'))
  const bad = await medrec(['gatekeeper', 'add-client', '--datadir', dir.path, '--redirect-uri', 'http://app.example/cb'])
  t.equal(bad.code, 2, 'a plain-http redirect URI is a usage error')
  t.match(bad.stderr, /must be https/)
  const added = await medrec(['gatekeeper', 'add-client', '--datadir', dir.path, '--redirect-uri', 'https://app.example/cb', '--client-id', 'my-app', '--json'])
  t.equal(added.code, 0, added.stderr)
  t.same((JSON.parse(added.stdout) as { clientId: string; redirectUris: string[] }).redirectUris, ['https://app.example/cb'])
  const list = await medrec(['gatekeeper', 'list-clients', '--datadir', dir.path, '--json'])
  t.same((JSON.parse(list.stdout) as { clientId: string }[]).map((c) => c.clientId), ['my-app'])
  const removed = await medrec(['gatekeeper', 'remove-client', '--datadir', dir.path, '--client-id', 'my-app', '--json'])
  t.same(JSON.parse(removed.stdout), { clientId: 'my-app', removed: true })
})
