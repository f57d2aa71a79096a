import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import { certFingerprint, createSelfSigned, loadOrCreateDevTls, loadSuppliedTls } from '../../gatekeeper/tls.ts'
import { medrec } from '../cli/run-cli.ts'
import { tempDir } from '../helpers/node-process.ts'

/**
 * The gatekeeper's TLS files, as an operator gets them wrong and as time wears them out: the
 * operator's certificate and key are checked at start (unreadable, not PEM, not a pair, expired,
 * not yet valid, encrypted), the development certificate is made once (ECDSA P-256, 0600, the
 * loopback names and the configured host), kept, and made anew when it expired or lacks a host.
 */

const DAY = 86_400_000
const TLS_CONFIG = { code: GatekeeperErrorCode.TLS_CONFIG }
const tmp = tempDir('medrec-tls-files-')
t.teardown(() => tmp.remove())

const now = Date.now()
const good = await createSelfSigned(['localhost', '127.0.0.1'], now - DAY, now + 30 * DAY)
const other = await createSelfSigned(['localhost'], now - DAY, now + 30 * DAY)
const expired = await createSelfSigned(['localhost'], now - 30 * DAY, now - DAY)
const future = await createSelfSigned(['localhost'], now + DAY, now + 30 * DAY)
const file = (name: string, text: string): string => {
  const p = join(tmp.path, name)
  writeFileSync(p, text, { mode: 0o600 })
  return p
}
const goodCert = file('good.crt', good.cert)
const goodKey = file('good.key', good.key)
const otherKey = file('other.key', other.key)

t.test("the operator's certificate and key: used when they are a valid pair, refused at start with the reason otherwise", async (t) => {
  const loaded = loadSuppliedTls({ cert: goodCert, key: goodKey })
  const x = new X509Certificate(good.cert)
  t.equal(loaded.fingerprint, `0x${x.fingerprint256.replace(/:/g, '').toLowerCase()}`, "the fingerprint is the SHA-256 of the certificate's DER")
  t.equal(loaded.fingerprint, certFingerprint(x.raw))
  t.equal(loaded.source, 'supplied')
  t.equal(loaded.cert, good.cert, 'served as given (a chain stays whole)')

  t.throws(() => loadSuppliedTls({ cert: join(tmp.path, 'missing.crt'), key: goodKey }), { ...TLS_CONFIG, message: /cannot read the TLS certificate .*missing\.crt \(--gatekeeper\.tls\.cert\): .*ENOENT.*pass a readable PEM file/ }, 'an unreadable certificate')
  t.throws(() => loadSuppliedTls({ cert: goodCert, key: join(tmp.path, 'missing.key') }), { ...TLS_CONFIG, message: /cannot read the TLS private key .*missing\.key \(--gatekeeper\.tls\.key\)/ }, 'an unreadable key')
  t.throws(() => loadSuppliedTls({ cert: goodKey, key: goodKey }), { ...TLS_CONFIG, message: /good\.key \(--gatekeeper\.tls\.cert\) is not a PEM certificate.*BEGIN CERTIFICATE/ }, 'a key given as the certificate')
  t.throws(() => loadSuppliedTls({ cert: goodCert, key: goodCert }), { ...TLS_CONFIG, message: /is not a PEM private key/ }, 'the certificate given as the key')
  t.throws(() => loadSuppliedTls({ cert: goodCert, key: otherKey }), { ...TLS_CONFIG, message: /the key .*other\.key does not belong to the certificate .*good\.crt \(its public key differs\): pass the key the certificate was issued for/ }, 'a key of another certificate')
  t.throws(() => loadSuppliedTls({ cert: file('expired.crt', expired.cert), key: file('expired.key', expired.key) }), { ...TLS_CONFIG, message: /expired\.crt expired on \d{4}-.*: renew it/ }, 'an expired certificate')
  t.throws(() => loadSuppliedTls({ cert: file('future.crt', future.cert), key: file('future.key', future.key) }), { ...TLS_CONFIG, message: /is not valid before .*check this machine's clock/ }, 'a certificate not yet valid (or a clock behind)')
  const encrypted = file('enc.key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n')
  t.throws(() => loadSuppliedTls({ cert: goodCert, key: encrypted }), { ...TLS_CONFIG, message: /encrypted private key.*decrypt it/ }, 'an encrypted key')
})

t.test('the development certificate: made once, 0600, ECDSA P-256, the loopback names and the configured host; kept while valid', async (t) => {
  const dir = join(tmp.path, 'dev')
  const first = await loadOrCreateDevTls(dir, ['0.0.0.0', 'gk.example.org'])
  const certPath = join(dir, 'tls', 'cert.pem')
  const keyPath = join(dir, 'tls', 'key.pem')
  t.equal(statSync(keyPath).mode & 0o777, 0o600, 'key.pem is 0600')
  t.equal(statSync(certPath).mode & 0o777, 0o600, 'cert.pem is 0600')
  t.equal(statSync(join(dir, 'tls')).mode & 0o777, 0o700, 'tls/ is 0700')
  const x = new X509Certificate(readFileSync(certPath))
  t.equal(first.fingerprint, certFingerprint(x.raw), 'the fingerprint is of the file on disk')
  t.same(x.publicKey.asymmetricKeyDetails, { namedCurve: 'prime256v1' }, 'ECDSA P-256')
  t.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:gk.example.org', 'localhost, 127.0.0.1, ::1 and the configured host (not 0.0.0.0)')
  t.ok(new Date(x.validTo).getTime() > Date.now() + 9 * 365 * DAY, 'long-lived, for development')
  t.equal(x.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(readFileSync(keyPath)))), true, 'key.pem is its key')
  const again = await loadOrCreateDevTls(dir, ['127.0.0.1', 'gk.example.org'])
  t.equal(again.fingerprint, first.fingerprint, 'the next start keeps it (requesters keep their pin)')
})

t.test('the development certificate is renewed when it expired or lacks a configured host; damaged files stop the start', async (t) => {
  const dir = join(tmp.path, 'renew')
  const first = await loadOrCreateDevTls(dir, [])
  // The clock past its end: a start then makes a new one (and the gatekeeper republishes its fingerprint).
  const later = first.notAfter.getTime() + DAY
  const renewed = await loadOrCreateDevTls(dir, [], later)
  t.not(renewed.fingerprint, first.fingerprint, 'an expired certificate is replaced')
  t.ok(renewed.notAfter.getTime() > later, 'by one valid at that time')
  t.equal(certFingerprint(new X509Certificate(readFileSync(join(dir, 'tls', 'cert.pem'))).raw), renewed.fingerprint, 'on disk')

  const moved = await loadOrCreateDevTls(dir, ['gk.new-host.example'])
  t.not(moved.fingerprint, renewed.fingerprint, 'a host the certificate does not name: made anew')
  t.match(new X509Certificate(moved.cert).subjectAltName, /DNS:gk\.new-host\.example/)

  writeFileSync(join(dir, 'tls', 'key.pem'), other.key, { mode: 0o600 })
  await t.rejects(loadOrCreateDevTls(dir, ['gk.new-host.example']), { ...TLS_CONFIG, message: /key\.pem does not belong to .*cert\.pem: delete .*tls and start again/ }, 'a key that is not its pair')
  writeFileSync(join(dir, 'tls', 'cert.pem'), 'not a certificate\n', { mode: 0o600 })
  await t.rejects(loadOrCreateDevTls(dir, []), { ...TLS_CONFIG, message: /cert\.pem is not a PEM certificate/ }, 'a damaged certificate')
})

t.test('medrec start refuses wrong TLS flags and files before it opens anything', async (t) => {
  const datadir = (n: string) => join(tmp.path, `node-${n}`)
  const base = (n: string) => ['start', '--dev', '--datadir', datadir(n), '--rpc.port', '0', '--ui=false', '--gatekeeper', '--gatekeeper.http.port', '0']
  const cases: [string, string[], RegExp][] = [
    ['a key of another certificate', ['--gatekeeper.tls.cert', goodCert, '--gatekeeper.tls.key', otherKey], /does not belong to the certificate .*good\.crt.*pass the key the certificate was issued for/],
    ['an unreadable certificate', ['--gatekeeper.tls.cert', join(tmp.path, 'nope.crt'), '--gatekeeper.tls.key', goodKey], /cannot read the TLS certificate .*nope\.crt/],
    ['an expired certificate', ['--gatekeeper.tls.cert', join(tmp.path, 'expired.crt'), '--gatekeeper.tls.key', join(tmp.path, 'expired.key')], /expired on/],
    ['a certificate without its key', ['--gatekeeper.tls.cert', goodCert], /--gatekeeper\.tls\.cert needs --gatekeeper\.tls\.key/],
    ['plain HTTP without a proxy', ['--gatekeeper.tls=false'], /--gatekeeper\.tls=false is for a gatekeeper behind a TLS-terminating proxy: pass --gatekeeper\.url https:/],
    ['plain HTTP with a certificate', ['--gatekeeper.tls=false', '--gatekeeper.url', 'https://gk.example.org', '--gatekeeper.tls.cert', goodCert, '--gatekeeper.tls.key', goodKey], /--gatekeeper\.tls=false serves plain HTTP: drop --gatekeeper\.tls\.cert/],
    ['an http:// URL to publish for an HTTPS API', ['--gatekeeper.url', 'http://gk.example.org'], /is plain HTTP but the gatekeeper serves HTTPS/],
    ['TLS flags without the HTTP API', ['--gatekeeper.nohttp', '--gatekeeper.tls.cert', goodCert, '--gatekeeper.tls.key', goodKey], /--gatekeeper\.nohttp turns off/],
  ]
  const results = await Promise.all(cases.map(([, extra], i) => medrec([...base(String(i)), ...extra])))
  cases.forEach(([what, , message], i) => {
    const r = results[i]!
    t.equal(r.code, 2, `${what}: a usage error`)
    t.match(r.stderr, message, `${what}: the reason and the fix`)
    t.notMatch(r.stdout + r.stderr, /Loaded chain head|listening/, `${what}: stopped before the chain opened`)
  })
})
