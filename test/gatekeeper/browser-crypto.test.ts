import t, { type Test } from 'tap'
import { createCipheriv, createDecipheriv, createECDH, hkdfSync } from 'node:crypto'
import { DatabaseSync } from 'node:sqlite'
import { runInNewContext } from 'node:vm'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { fromHex, toData } from '../../common/index.ts'
import { checkAuditView, createAuditLog, type AuditCheck, type AuditHead, type AuditInput } from '../../gatekeeper/audit.ts'
import { decryptWith, ECIES_AES, encryptTo } from '../../gatekeeper/ecies.ts'
import { newRequest, signRequest } from '../../gatekeeper/request-digest.ts'
import type { EncryptedPayload, GatekeeperRequest, SignedRequestJson } from '../../gatekeeper/types.ts'

/**
 * The requester's crypto as the browser app gets it: gatekeeper/ecies.ts and request-digest.ts
 * bundled for the browser (esbuild, as ui/build.ts does; a node: import fails the build) and run
 * in a realm with no Buffer, no process and no node:crypto. It must produce and read the same
 * bytes as Node: envelopes made with node:crypto's primitives (the implementation before the
 * move to @noble), signatures, hex.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface BrowserCrypto {
  encryptTo(pub: Uint8Array, plain: Uint8Array): EncryptedPayload
  decryptWith(sk: Uint8Array, payload: unknown): Uint8Array
  newRequest: typeof newRequest
  signRequest(sk: Uint8Array, chainId: bigint, req: GatekeeperRequest): SignedRequestJson
  toData(b: Uint8Array): string
  fromHex(h: string): Uint8Array
  checkAuditView(view: unknown, anchor: AuditHead | undefined): AuditCheck
  fetchAudit: unknown
  ECIES_AES: string
}

async function browserBundle(t: Test): Promise<BrowserCrypto> {
  const out = await build({
    stdin: {
      contents: [
        "export { encryptTo, decryptWith, ECIES_AES } from './gatekeeper/ecies.ts'",
        "export { newRequest, signRequest } from './gatekeeper/request-digest.ts'",
        "export { toData, fromHex } from './common/hex.ts'",
        // The audit log as a browser-key patient reads it: the request, the check against the anchor.
        "export { checkAuditView } from './gatekeeper/audit-check.ts'",
        "export { fetchAudit } from './gatekeeper/fetch-audit.ts'",
      ].join('\n'),
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'M',
    platform: 'browser',
    logLevel: 'silent',
  })
  const code = out.outputFiles[0]!.text
  // Only what a browser has: the language, TextEncoder/TextDecoder and Web Crypto's getRandomValues.
  const realm: Record<string, unknown> = { TextEncoder, TextDecoder, crypto: { getRandomValues: (a: Uint8Array) => globalThis.crypto.getRandomValues(a) } }
  runInNewContext(`${code}\nthis.M = M`, realm)
  t.equal(realm.Buffer, undefined, 'the realm has no Buffer')
  return realm.M as BrowserCrypto
}

/** The envelope with node:crypto's ECDH, HKDF and AES-GCM (the Node implementation as it was). */
function nodeEncrypt(pub: Uint8Array, plain: Uint8Array): EncryptedPayload {
  const ecdh = createECDH('secp256k1')
  const eph = ecdh.generateKeys()
  const key = Buffer.from(hkdfSync('sha256', ecdh.computeSecret(pub), eph, Buffer.from('medrec-gatekeeper-v1'), 32))
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  c.setAAD(eph)
  const ct = Buffer.concat([c.update(plain), c.final()])
  return { v: 1, ephemeralPublicKey: toData(eph), iv: toData(iv), ciphertext: toData(ct), tag: toData(c.getAuthTag()) }
}

function nodeDecrypt(sk: Uint8Array, env: EncryptedPayload): Buffer {
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(sk)
  const eph = fromHex(env.ephemeralPublicKey)
  const key = Buffer.from(hkdfSync('sha256', ecdh.computeSecret(eph), eph, Buffer.from('medrec-gatekeeper-v1'), 32))
  const d = createDecipheriv('aes-256-gcm', key, fromHex(env.iv), { authTagLength: 16 })
  d.setAAD(eph)
  d.setAuthTag(fromHex(env.tag))
  return Buffer.concat([d.update(fromHex(env.ciphertext)), d.final()])
}

const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b) // a plain Uint8Array (not a Buffer) for the other realm

t.test('the requester crypto bundles for the browser and runs without Buffer or node:crypto', async (t) => {
  const M = await browserBundle(t)
  // The server seals with node:crypto's AES-GCM (fast), the browser with @noble's: the bytes below must agree both ways.
  t.equal(ECIES_AES, 'node:crypto', 'in Node, AES-GCM runs on node:crypto')
  t.equal(M.ECIES_AES, '@noble/ciphers', 'in the browser, on @noble')
  const sk = secp256k1.utils.randomSecretKey()
  const pub = secp256k1.getPublicKey(sk, false)

  for (const size of [0, 1, 33, 5000]) {
    const plain = globalThis.crypto.getRandomValues(new Uint8Array(size))
    t.ok(Buffer.from(M.decryptWith(copy(sk), JSON.parse(JSON.stringify(nodeEncrypt(pub, plain))))).equals(plain), `the browser reads node:crypto's ${size}-byte envelope`)
    t.ok(nodeDecrypt(sk, M.encryptTo(copy(pub), copy(plain))).equals(plain), `node:crypto reads the browser's ${size}-byte envelope`)
    t.ok(Buffer.from(decryptWith(sk, nodeEncrypt(pub, plain))).equals(plain), `Node's ecies.ts reads node:crypto's ${size}-byte envelope`)
    t.ok(nodeDecrypt(sk, encryptTo(pub, plain)).equals(plain), `node:crypto reads Node's ecies.ts ${size}-byte envelope`)
  }
  const env = nodeEncrypt(pub, new TextEncoder().encode('records'))
  const tampered = { ...env, ciphertext: `${env.ciphertext.slice(0, -2)}${env.ciphertext.endsWith('00') ? '01' : '00'}` }
  t.throws(() => M.decryptWith(copy(sk), tampered), /authentication failed/, 'a tampered envelope is refused in the browser too')
  t.throws(() => decryptWith(sk, tampered), /authentication failed/, 'and in Node')
  const wrongTag = { ...env, tag: `${env.tag.slice(0, -2)}${env.tag.endsWith('00') ? '01' : '00'}` }
  t.throws(() => decryptWith(sk, wrongTag), /authentication failed/, 'a forged tag is refused in Node')
  t.throws(() => M.decryptWith(copy(sk), wrongTag), /authentication failed/, 'and in the browser')

  const req = newRequest({ gatekeeper: '0x1111111111111111111111111111111111111111', method: 'records', relationship: '0x2222222222222222222222222222222222222222', pointerIds: [0n, 3n], fieldMasks: [7n, 1n] }, 1_800_000_000)
  t.same(M.signRequest(copy(sk), 1337n, req), signRequest(sk, 1337n, req), 'the browser signs the same bytes as Node (RFC 6979)')
  const fresh = M.newRequest({ gatekeeper: req.gatekeeper, method: 'audit', relationship: req.relationship })
  t.match(fresh.nonce, /^0x[0-9a-f]{64}$/, 'a browser request gets a 32-byte random nonce')
  t.not(fresh.nonce, M.newRequest({ gatekeeper: req.gatekeeper, method: 'audit', relationship: req.relationship }).nonce)

  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(300))
  t.equal(M.toData(copy(bytes)), toData(bytes), 'hex out: same as Node')
  t.ok(Buffer.from(M.fromHex(toData(bytes).toUpperCase().replace('0X', '0x'))).equals(bytes), 'hex in: same as Node')
  t.throws(() => M.fromHex('0xabc'), /not hex data/, 'odd-length hex refused as in Node')
})

t.test("the audit log's check bundles for the browser and judges a view as the node does", async (t) => {
  const M = await browserBundle(t)
  t.type(M.fetchAudit, 'function', 'fetch-audit.ts bundles without Node')
  const db = new DatabaseSync(':memory:')
  t.teardown(() => db.close())
  let now = 1_800_000_000_000
  const log = createAuditLog(db, { now: () => now++ })
  const [mine, other] = ['0x2222222222222222222222222222222222222222', '0x3333333333333333333333333333333333333333']
  const entry = (relationship: string, requester: string, decision: AuditInput['decision']): AuditInput => ({
    requester, method: 'records', relationship, patient: '0x4444444444444444444444444444444444444444', pointerIds: ['0'], fieldMasks: ['0x3'], decision, reason: decision === 'granted' ? 'grant' : 'no grant', nonce: toData(globalThis.crypto.getRandomValues(new Uint8Array(32))),
  })
  for (let i = 0; i < 6; i++) log.append(entry(i % 2 === 0 ? mine : other, `0x${String(i + 5).repeat(40)}`, i % 3 === 0 ? 'refused' : 'granted'))
  const anchor = log.head() // anchored at seq 6
  log.append(entry(mine, '0x5555555555555555555555555555555555555555', 'granted')) // after the anchor
  const view = log.view([mine])
  // The realm gets the view as the relay hands it over: parsed JSON.
  const inBrowser = (v: unknown, a: AuditHead | undefined) => M.checkAuditView(JSON.parse(JSON.stringify(v)), a)
  const node = checkAuditView(view, anchor)
  t.match(node, { linked: true, anchor: 'verified', coveredSeqs: [1, 3, 5] }, 'Node: her entries open, the chain reaches the anchor')
  t.same(inBrowser(view, anchor), node, 'the browser finds the same')

  const edited = JSON.parse(JSON.stringify(view)) as typeof view
  edited.entries[1]!.requester = '0x9999999999999999999999999999999999999999'
  t.match(inBrowser(edited, anchor), { linked: false, problem: /does not open its commitment/ }, 'an edited entry of hers is caught in the browser')
  const dropped = JSON.parse(JSON.stringify(view)) as typeof view
  dropped.commitments.splice(1, 1)
  dropped.head = { seq: view.head.seq - 1, hash: view.head.hash }
  t.equal(inBrowser(dropped, anchor).linked, false, "a dropped entry (someone else's) is caught in the browser")
  t.match(inBrowser(view, { seq: anchor.seq, hash: toData(new Uint8Array(32).fill(7)) }), { linked: true, anchor: 'mismatch' }, 'a log rewritten after its anchor shows as a mismatch in the browser')
})
